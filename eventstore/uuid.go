package eventstore

import "github.com/google/uuid"

func formatUUID(b [16]byte) string { return uuid.UUID(b).String() }

func parseUUID(s string) (uuid.UUID, error) { return uuid.Parse(s) }
