// Package audit holds the auditors' read models: every role change with
// before → after, who did it and from where (RoleChangesProjector), and a
// hash chain over the whole event log that makes alterations of stored
// events detectable (ChainProjector, Verify).
//
// # What the chain proves, and what it does not
//
// Each event is sealed, in position order, into an HMAC-SHA256 chain keyed
// by a key derived from selfcare's secret (SELFCARE_SECRET or the data
// directory's secret.key), which is not in the database. Verify recomputes
// the chain from the events table. Someone who can write to the database but
// does not hold the secret cannot change, delete or insert a chained event,
// nor forge a link, without Verify reporting the first position affected:
// "altered" (content or link changed), "missing" (a chained event deleted),
// "inserted" (an event without link among chained ones).
//
// It does not prove:
//   - anything about events not chained yet (the projector lags a little
//     behind the log; Verify reports them as not checked): an event written
//     directly into the database above the chain's checkpoint is chained as
//     if it were legitimate;
//   - that the tail was not cut: deleting the last events together with
//     their links and moving the chain's checkpoint back leaves a shorter
//     but consistent chain. Record a verification's head (position and
//     hash) outside selfcare and verify later against it as an Anchor;
//   - anything against someone holding both the database and the secret:
//     they can rewrite events and rebuild the whole chain. Anchors kept
//     elsewhere still expose a rewrite of what precedes them;
//   - that an event was legitimate when it was appended: the chain seals
//     what the server wrote, bugs and compromised servers included.
//
// Rebuilding the audit_chain read model re-seals the log as it is at that
// moment: verify first (selfcare projections rebuild refuses otherwise).
package audit
