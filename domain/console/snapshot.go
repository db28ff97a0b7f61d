package console

import (
	"encoding/json"
	"fmt"
	"time"

	"selfcare/domain"
)

// Snapshots of an Account (see membership's for why). SnapshotSchema
// changes whenever Account's state or its encoding does.
const (
	SnapshotKind   = "console-account"
	SnapshotSchema = 1
)

type snapshot struct {
	ContractID     string          `json:"contract_id"`
	Login          string          `json:"login"`
	APIPassword    bool            `json:"api_password"`
	APIPasswordAt  time.Time       `json:"api_password_at"`
	Keys           []AccessKeyInfo `json:"keys"`
	LatestCodeSent time.Time       `json:"latest_code_sent"`
	Version        int             `json:"version"`
}

// SnapshotKind names the aggregate's snapshots.
func (a *Account) SnapshotKind() string { return SnapshotKind }

// SnapshotSchema is the encoding version of the aggregate's snapshots.
func (a *Account) SnapshotSchema() int { return SnapshotSchema }

// MarshalSnapshot encodes the account's whole state.
func (a *Account) MarshalSnapshot() ([]byte, error) {
	return json.Marshal(snapshot{
		ContractID: a.contractID, Login: a.login, APIPassword: a.apiPassword, APIPasswordAt: a.apiPasswordAt,
		Keys: a.keys, LatestCodeSent: a.latestCodeSent, Version: a.version,
	})
}

// UnmarshalSnapshot restores a state encoded by MarshalSnapshot. The
// account must be the one the snapshot is of (NewAccount's contract and
// login): a snapshot of another account is refused. On error the account
// is left unchanged.
func (a *Account) UnmarshalSnapshot(data []byte) error {
	var s snapshot
	if err := domain.DecodeSnapshot(data, &s); err != nil {
		return err
	}
	if s.ContractID != a.contractID || s.Login != a.login {
		return fmt.Errorf("snapshot of the console account %s/%s, not %s/%s", s.ContractID, s.Login, a.contractID, a.login)
	}
	*a = Account{
		contractID: s.ContractID, login: s.Login, apiPassword: s.APIPassword, apiPasswordAt: s.APIPasswordAt,
		keys: s.Keys, latestCodeSent: s.LatestCodeSent, version: s.Version,
	}
	return nil
}
