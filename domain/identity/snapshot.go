package identity

import (
	"encoding/json"
	"time"

	"selfcare/domain"
)

// Snapshots of an Identity (see membership's for why). SnapshotSchema
// changes whenever Identity's state or its encoding does.
const (
	SnapshotKind   = "identity"
	SnapshotSchema = 2 // 2: the pending change of email
)

type snapshot struct {
	Registered    bool                     `json:"registered"`
	Login         string                   `json:"login"`
	Profile       ProfileData              `json:"profile"`
	RegisteredAt  time.Time                `json:"registered_at"`
	HasPassword   bool                     `json:"has_password"`
	PasswordSetAt time.Time                `json:"password_set_at"`
	Resets        []PasswordResetRequested `json:"resets"`
	EmailChange   *EmailChangeRequested    `json:"email_change"`
	Version       int                      `json:"version"`
}

// SnapshotKind names the aggregate's snapshots.
func (id *Identity) SnapshotKind() string { return SnapshotKind }

// SnapshotSchema is the encoding version of the aggregate's snapshots.
func (id *Identity) SnapshotSchema() int { return SnapshotSchema }

// MarshalSnapshot encodes the identity's whole state.
func (id *Identity) MarshalSnapshot() ([]byte, error) {
	return json.Marshal(snapshot{
		Registered: id.registered, Login: id.login.s, Profile: id.Profile(), RegisteredAt: id.registeredAt,
		HasPassword: id.hasPassword, PasswordSetAt: id.passwordSetAt, Resets: id.resets, EmailChange: id.emailChange,
		Version: id.version,
	})
}

// UnmarshalSnapshot restores a state encoded by MarshalSnapshot. On error
// the identity is left unchanged.
func (id *Identity) UnmarshalSnapshot(data []byte) error {
	var s snapshot
	if err := domain.DecodeSnapshot(data, &s); err != nil {
		return err
	}
	restored := Identity{
		registered: s.Registered, login: Login{s: s.Login}, registeredAt: s.RegisteredAt,
		hasPassword: s.HasPassword, passwordSetAt: s.PasswordSetAt, resets: s.Resets, emailChange: s.EmailChange,
		version: s.Version,
	}
	restored.setProfile(s.Profile)
	*id = restored
	return nil
}
