package membership

import (
	"encoding/json"
	"time"

	"selfcare/domain"
)

// Snapshots of a Membership (the command side keeps one per long stream so
// that a command folds a bounded number of events). SnapshotSchema changes
// whenever Membership's state or its encoding does: older snapshots are then
// ignored and the stream folded from its first event.
const (
	SnapshotKind   = "membership"
	SnapshotSchema = 1
)

type snapshot struct {
	Member         bool      `json:"member"`
	ContractID     string    `json:"contract_id"`
	Login          string    `json:"login"`
	Referent       bool      `json:"referent"`
	Roles          Roles     `json:"roles"`
	AddedAt        time.Time `json:"added_at"`
	Incidents      bool      `json:"incidents"`
	ChangeRequests bool      `json:"change_requests"`
	Version        int       `json:"version"`
}

// SnapshotKind names the aggregate's snapshots.
func (m *Membership) SnapshotKind() string { return SnapshotKind }

// SnapshotSchema is the encoding version of the aggregate's snapshots.
func (m *Membership) SnapshotSchema() int { return SnapshotSchema }

// MarshalSnapshot encodes the membership's whole state.
func (m *Membership) MarshalSnapshot() ([]byte, error) {
	return json.Marshal(snapshot{
		Member: m.member, ContractID: m.contractID, Login: m.login, Referent: m.referent, Roles: m.roles,
		AddedAt: m.addedAt, Incidents: m.incidents, ChangeRequests: m.changeRequests, Version: m.version,
	})
}

// UnmarshalSnapshot restores a state encoded by MarshalSnapshot. On error
// the membership is left unchanged.
func (m *Membership) UnmarshalSnapshot(data []byte) error {
	var s snapshot
	if err := domain.DecodeSnapshot(data, &s); err != nil {
		return err
	}
	*m = Membership{
		member: s.Member, contractID: s.ContractID, login: s.Login, referent: s.Referent, roles: s.Roles,
		addedAt: s.AddedAt, incidents: s.Incidents, changeRequests: s.ChangeRequests, version: s.Version,
	}
	return nil
}
