package server

import (
	"selfcare/commands"
	"selfcare/internal/oidcop"
	"selfcare/projections/members"
)

// newOIDC builds the console's OpenID provider. Its issuer is the public
// URL (SELFCARE_PUBLIC_URL); without one (tests), the host of each request.
func (s *Server) newOIDC() (*oidcop.Provider, error) {
	memberQueries := members.Queries{Pool: s.Pool}
	issuer := s.Config.PublicURL
	return oidcop.New(oidcop.Options{
		Pool: s.Pool, Keys: s.Keys, Clock: s.Clock, Issuer: issuer, Sessions: s.Sessions,
		SignIns: &commands.ConsoleSignIns{App: s.App, Accounts: memberQueries},
		Members: memberQueries, Logger: s.Logger,
	})
}
