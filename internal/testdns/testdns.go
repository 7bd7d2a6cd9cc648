// Package testdns is a real DNS server on loopback for tests: it answers A
// and AAAA queries from a table, NXDOMAIN for names it does not know, and
// SERVFAIL for names under servfail. Tests point a net.Resolver at it so DNS
// failures and fan-out across several addresses are reproducible without a
// network.
package testdns

import (
	"context"
	"net"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers DNS queries on a loopback UDP port.
type Server struct {
	conn net.PacketConn
	mu   sync.Mutex
	recs map[string][]net.IP
	wg   sync.WaitGroup
}

// Start serves the records, keyed by fully qualified name ("api.test.").
func Start(records map[string][]net.IP) (*Server, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{conn: conn, recs: map[string][]net.IP{}}
	for k, v := range records {
		s.recs[strings.ToLower(k)] = v
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Set replaces the addresses of a name.
func (s *Server) Set(name string, ips []net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[strings.ToLower(name)] = ips
}

// Resolver returns a resolver that asks only this server.
func (s *Server) Resolver() *net.Resolver {
	addr := s.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// Close stops the server.
func (s *Server) Close() {
	s.conn.Close()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, addr, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			s.conn.WriteTo(resp, addr)
		}
	}
}

func (s *Server) answer(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(question.Name.String())
	s.mu.Lock()
	ips, known := s.recs[name]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	switch {
	case strings.HasSuffix(name, "servfail."):
		rh.RCode = dnsmessage.RCodeServerFailure
	case !known:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	for _, ip := range ips {
		rr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 1}
		if v4 := ip.To4(); v4 != nil && question.Type == dnsmessage.TypeA {
			b.AResource(rr, dnsmessage.AResource{A: [4]byte(v4)})
		} else if v4 == nil && question.Type == dnsmessage.TypeAAAA {
			b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: [16]byte(ip.To16())})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
