package server

import (
	"context"
	"path/filepath"
	"time"

	"selfcare/commands"
	"selfcare/handlers"
	"selfcare/internal/config"
	"selfcare/internal/consumer"
	"selfcare/internal/mail"
	"selfcare/internal/notifier"
	"selfcare/projections/credentials"
	"selfcare/projections/members"
)

// Account gathers authentication, "my account", console credentials and
// emails: their commands, the reactions and notifier that consume the bus,
// and the mail sender.
type Account struct {
	Captchas    *commands.Captchas
	Passwords   *commands.Passwords
	Account     *commands.Account
	Credentials *commands.ConsoleCredentials
	SSO         *commands.ConsoleSSO
	Reactions   *commands.Reactions
	Notifier    *notifier.Notifier
	Sender      *mail.Sender
}

// newAccount builds the parts; the transport is SMTP when a relay is
// configured, else .eml files under <data dir>/mail.
func (s *Server) newAccount() (*Account, error) {
	cfg := s.Config
	renderer, err := mail.NewRenderer(cfg.PublicURL, s.Keys)
	if err != nil {
		return nil, err
	}
	var transport mail.Transport = mail.Files{Dir: filepath.Join(cfg.DataDir, "mail"), Logger: s.Logger}
	if cfg.SMTPAddr != "" {
		transport = &mail.SMTP{Addr: cfg.SMTPAddr}
	}
	consoleURL := cfg.ConsoleURL
	if consoleURL == "" {
		consoleURL = config.DefaultConsoleURL
	}
	a := &Account{
		Captchas:    &commands.Captchas{App: s.App, Disabled: cfg.CaptchaDisabled},
		Passwords:   &commands.Passwords{App: s.App, Keys: s.Keys},
		Account:     &commands.Account{App: s.App, Sessions: s.Sessions},
		Credentials: &commands.ConsoleCredentials{App: s.App, Keys: s.Keys},
		SSO:         &commands.ConsoleSSO{Keys: s.Keys, Clock: s.Clock, ConsoleURL: consoleURL, Issuer: cfg.PublicURL},
		Notifier:    &notifier.Notifier{Pool: s.Pool, Registry: s.Registry, ReadModels: s.Runner, Keys: s.Keys, Logger: s.Logger},
		Sender: &mail.Sender{Pool: s.Pool, Transport: transport, Renderer: renderer, From: cfg.MailFrom,
			Logger: s.Logger.With("worker", "mail")},
	}
	a.Account.Links = a.Passwords
	a.Reactions = &commands.Reactions{App: s.App, Passwords: a.Passwords, Credentials: a.Credentials}
	return a, nil
}

func (a *Account) features(s *Server) []handlers.Feature {
	memberQueries := members.Queries{Pool: s.Pool}
	return []handlers.Feature{
		handlers.CaptchasAPI{Captchas: a.Captchas},
		handlers.PasswordsAPI{Passwords: a.Passwords, Captchas: a.Captchas},
		handlers.AccountAPI{Account: a.Account, Members: memberQueries},
		handlers.ConsoleAPI{SSO: a.SSO, Credentials: a.Credentials, Captchas: a.Captchas,
			Members: memberQueries, Keys: credentials.Queries{Pool: s.Pool}},
	}
}

// start runs the reactions, the notifier and the mail sender.
func (a *Account) start(ctx context.Context, s *Server) {
	s.spawn(func() { consumer.Run(ctx, s.Store, "reactions", s.Logger, a.Reactions.Handle) })
	s.spawn(func() { consumer.Run(ctx, s.Store, notifier.Group, s.Logger, a.Notifier.Handle) })
	s.spawn(func() { a.Sender.Run(ctx) })
	s.spawn(func() {
		for {
			if err := s.App.PurgeExpired(ctx, s.Sessions.Throttle); err != nil && ctx.Err() == nil {
				s.Logger.Warn("purge expired captchas, links, counts and emails", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Hour):
			}
		}
	})
}
