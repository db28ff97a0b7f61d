package testkit

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"selfcare/internal/server"
)

// SMTPServer is a real SMTP server running in the test process: it
// accepts every message (unless told to refuse some) and keeps them for
// the test to read.
type SMTPServer struct {
	Addr string

	mu       sync.Mutex
	received []Mail
	taken    []bool
	refuseTo map[string]refusal
	refused  int
	changed  chan struct{}
	conns    int
}

// Mail is a message the server received, decoded.
type Mail struct {
	To      []string
	Raw     string
	Subject string
	Text    string // the body, transfer encoding undone
}

// StartSMTP starts a server on a free loopback port; it stops at cleanup.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &smtpSession{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// WithSMTP points a test server's mail at s.
func WithSMTP(s *SMTPServer) Option {
	return func(o *server.Options) {
		o.Config.SMTPAddr = s.Addr
	}
}

// refusal is how many more messages to an address to refuse, and which.
type refusal struct {
	n       int
	subject string // refuse only messages whose subject contains it
}

// RefuseTo makes the server refuse the next n messages to addr (451) whose
// subject contains subject (any message when empty).
func (s *SMTPServer) RefuseTo(addr string, n int, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseTo == nil {
		s.refuseTo = map[string]refusal{}
	}
	s.refuseTo[strings.ToLower(addr)] = refusal{n: n, subject: subject}
}

// Refused returns how many messages were refused so far.
func (s *SMTPServer) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Next waits (up to 20 s) for the next message to addr that no earlier
// call returned, and returns it.
func (s *SMTPServer) Next(t testing.TB, addr string) Mail {
	t.Helper()
	m, ok := s.nextMatching(addr, nil, 20*time.Second)
	if !ok {
		t.Fatalf("no email to %s within 20 s (received: %s)", addr, s.summary())
	}
	return m
}

// NextMatching is Next for the next message to addr that match accepts;
// the messages it passes over stay for later calls.
func (s *SMTPServer) NextMatching(t testing.TB, addr string, match func(Mail) bool) Mail {
	t.Helper()
	m, ok := s.nextMatching(addr, match, 20*time.Second)
	if !ok {
		t.Fatalf("no matching email to %s within 20 s (received: %s)", addr, s.summary())
	}
	return m
}

// sixDigits matches a verification code.
var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// NextCode waits for the next verification email to addr and returns its
// code, its only 6-digit number (the test fails unless there is exactly
// one), and the email.
func (s *SMTPServer) NextCode(t testing.TB, addr string) (string, Mail) {
	t.Helper()
	m := s.NextMatching(t, addr, func(m Mail) bool { return m.Subject == "Your verification code" })
	codes := sixDigits.FindAllString(m.Text, -1)
	if len(codes) != 1 {
		t.Fatalf("the verification email has %d 6-digit numbers, want 1:\n%s", len(codes), m.Text)
	}
	return codes[0], m
}

// NextWithin is Next with a timeout, reporting false when none came.
func (s *SMTPServer) NextWithin(addr string, d time.Duration) (Mail, bool) {
	return s.nextMatching(addr, nil, d)
}

func (s *SMTPServer) nextMatching(addr string, match func(Mail) bool, d time.Duration) (Mail, bool) {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		changed := s.changed
		for i, m := range s.received {
			if s.taken[i] || match != nil && !match(m) {
				continue
			}
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					s.taken[i] = true
					s.mu.Unlock()
					return m, true
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return Mail{}, false
		}
	}
}

// Connections returns how many SMTP connections were opened so far.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// All returns every message received so far.
func (s *SMTPServer) All() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.received...)
}

func (s *SMTPServer) summary() string {
	var parts []string
	for _, m := range s.All() {
		parts = append(parts, strings.Join(m.To, ",")+": "+m.Subject)
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func (s *SMTPServer) deliver(m Mail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := false
	for _, to := range m.To {
		if r := s.refuseTo[strings.ToLower(to)]; r.n > 0 && strings.Contains(m.Subject, r.subject) {
			r.n--
			s.refuseTo[strings.ToLower(to)] = r
			refuse = true
		}
	}
	if refuse {
		s.refused++
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.received = append(s.received, m)
	s.taken = append(s.taken, false)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

type smtpSession struct {
	s  *SMTPServer
	to []string
}

func (ss *smtpSession) Reset()                               { ss.to = nil }
func (ss *smtpSession) Logout() error                        { return nil }
func (ss *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Mail{To: append([]string(nil), ss.to...), Raw: string(raw)}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message: " + err.Error()}
	}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject")); err != nil {
		m.Subject = parsed.Header.Get("Subject")
	}
	var body io.Reader = parsed.Body
	if strings.EqualFold(parsed.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return errors.Join(errors.New("read body"), err)
	}
	m.Text = strings.ReplaceAll(string(text), "\r\n", "\n")
	return ss.s.deliver(m)
}
