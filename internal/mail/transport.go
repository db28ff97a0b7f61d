package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers a message.
type Transport interface {
	Send(ctx context.Context, m *gomail.Msg) error
}

// build makes the MIME message: UTF-8 plain text sent as 8bit, so that the
// raw message shows links and codes as they are (no quoted-printable "=3D").
func build(from string, m Message, now time.Time) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithEncoding(gomail.NoEncoding), gomail.WithCharset(gomail.CharsetUTF8))
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue(messageID())
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// messageID is letters only, so that no header adds a number to a message
// whose only 6-digit number must be its verification code.
func messageID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b) + "@selfcare"
}

// SMTP sends through a relay (SELFCARE_SMTP_ADDR, host:port), with STARTTLS
// when the relay offers it, over connections it keeps open: a message
// reuses an idle connection (checked with NOOP) instead of dialling,
// greeting and negotiating TLS again, and concurrent senders each use
// their own. Use it by pointer; Close closes the idle connections.
type SMTP struct {
	Addr string

	mu   sync.Mutex
	idle []*gomail.Client
}

// smtpTimeout bounds a relay's connection and each of its commands.
const smtpTimeout = 30 * time.Second

// maxIdleSMTP is how many open connections are kept for reuse.
const maxIdleSMTP = 8

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m *gomail.Msg) error {
	if c := s.take(); c != nil {
		err := c.Send(m)
		if err == nil {
			s.put(c)
			return nil
		}
		_ = c.Close()
		var se *gomail.SendError
		if !errors.As(err, &se) || se.Reason != gomail.ErrConnCheck {
			return err
		}
		// The relay closed the idle connection before anything was sent:
		// send on a new one.
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	if err := c.Send(m); err != nil {
		_ = c.Close()
		return err
	}
	s.put(c)
	return nil
}

func (s *SMTP) dial(ctx context.Context) (*gomail.Client, error) {
	host, portStr, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: %w", s.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("SMTP port %q: %w", portStr, err)
	}
	c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTimeout(smtpTimeout), gomail.WithHELO("selfcare"))
	if err != nil {
		return nil, err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *SMTP) take() *gomail.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return c
	}
	return nil
}

func (s *SMTP) put(c *gomail.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= maxIdleSMTP {
		_ = c.Close()
		return
	}
	s.idle = append(s.idle, c)
}

// Close closes the idle connections; a later Send dials again.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
	return nil
}

// Files writes each message as an .eml file in Dir (no relay configured:
// development and demos). Only the file name is logged: the file holds the
// link or code.
type Files struct {
	Dir    string
	Logger *slog.Logger
}

// Send writes m.
func (f Files) Send(ctx context.Context, m *gomail.Msg) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	name := filepath.Join(f.Dir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+messageID()[:8]+".eml")
	tmp := name + ".tmp"
	file, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := m.WriteTo(file); err != nil {
		file.Close()
		os.Remove(tmp)
		return err
	}
	if err := file.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	if f.Logger != nil {
		f.Logger.Info("mail written (no SMTP relay configured)", "file", name)
	}
	return nil
}
