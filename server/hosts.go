package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// LoopbackHosts are the names every server answers to unless
// Options.AllowedHosts says otherwise: localhost and its subdomains (which
// browsers resolve to loopback, RFC 6761) and the loopback addresses. As
// Django's default ALLOWED_HOSTS in DEBUG.
var LoopbackHosts = []string{".localhost", "127.0.0.1", "[::1]"}

// hostRefusalLogEvery is how often, at most, refused Host headers are
// logged (one line with a count, not one per request: a scanner or a
// rebinding page can send many).
const hostRefusalLogEvery = 10 * time.Second

// DefaultAllowedHosts is the allowed_hosts of a server listening on listen
// when none is configured: LoopbackHosts, plus the host listen names; when
// that is every interface (":8080", "0.0.0.0:8080", "[::]:8080"), this
// machine's addresses and host name. A DNS rebinding page reaches the
// server under a name of its own, never under one of these.
func DefaultAllowedHosts(listen string) []string {
	hosts := append([]string(nil), LoopbackHosts...)
	h, _, err := net.SplitHostPort(listen)
	if err != nil {
		return hosts
	}
	ip := net.ParseIP(h)
	switch {
	case h == "" || ip != nil && ip.IsUnspecified():
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, hostLiteral(n.IP))
				}
			}
		}
		if name, err := os.Hostname(); err == nil && name != "" {
			hosts = append(hosts, strings.ToLower(name))
		}
	case ip != nil:
		hosts = append(hosts, hostLiteral(ip))
	default:
		hosts = append(hosts, strings.ToLower(h))
	}
	return hosts
}

// hostLiteral is ip as it appears in a Host header: IPv6 in brackets.
func hostLiteral(ip net.IP) string {
	if ip.To4() != nil {
		return ip.String()
	}
	return "[" + ip.String() + "]"
}

// hostPolicy decides which Host headers are served, with Django's
// ALLOWED_HOSTS patterns: "*" matches any host, ".example.com" matches
// example.com and every subdomain of it, anything else matches exactly.
// Ports are ignored; matching is case-insensitive.
type hostPolicy struct {
	any      bool
	exact    map[string]bool
	suffixes []string // ".example.com"
	shown    string   // the patterns, for logs
}

func newHostPolicy(patterns []string) (*hostPolicy, error) {
	if len(patterns) == 0 {
		patterns = LoopbackHosts
	}
	p := &hostPolicy{exact: map[string]bool{}, shown: strings.Join(patterns, ", ")}
	for _, pat := range patterns {
		pat = strings.ToLower(strings.TrimSpace(pat))
		switch {
		case pat == "*":
			p.any = true
		case strings.HasPrefix(pat, ".") && len(pat) > 1:
			p.suffixes = append(p.suffixes, pat)
		default:
			h, ok := hostOf(pat)
			if !ok || h != pat {
				return nil, fmt.Errorf("server: allowed host %q: want a host name, an IP address (IPv6 in brackets), .domain or *, without a port", pat)
			}
			p.exact[pat] = true
		}
	}
	return p, nil
}

// allows reports whether a request with this Host header is served.
func (p *hostPolicy) allows(hostHeader string) bool {
	h, ok := hostOf(hostHeader)
	if !ok {
		return false
	}
	if p.any || p.exact[h] {
		return true
	}
	for _, s := range p.suffixes {
		if h == s[1:] || strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// hostOf is the host of a Host header, lower-cased, without the port or a
// trailing dot (Django's split_domain_port), and whether it is well formed:
// a name of letters, digits, '-' and '.', or a bracketed IPv6 address.
func hostOf(hostHeader string) (string, bool) {
	h := strings.ToLower(hostHeader)
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 || !isPort(h[end+1:]) {
			return "", false
		}
		ip := net.ParseIP(h[1:end])
		if ip == nil || ip.To4() != nil {
			return "", false
		}
		return h[:end+1], true
	}
	host, port, hasPort := strings.Cut(h, ":")
	if hasPort && !isPort(":"+port) {
		return "", false
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "", false
		}
	}
	return host, true
}

// isPort reports whether s is empty or ":" followed by digits.
func isPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) == 1 || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isHealthProbe reports whether r is a load balancer's health check, which
// is answered whatever its Host: load balancers probe by IP address, and
// the answer ("ok" or "unavailable") tells a rebinding page nothing.
func isHealthProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/healthz" || r.URL.Path == "/livez")
}

// checkHost answers 400 to a request whose Host is not allowed (Django's
// DisallowedHost), before any handler or store sees it.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hosts.allows(r.Host) || isHealthProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		s.hostLog.refused(r.Host)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Connection", "close")
		http.Error(w, "Bad Request: this server does not answer to that host name (Host header).", http.StatusBadRequest)
	})
}

// hostRefusals logs refused Host headers at most once per period: the
// first at once (a misconfigured allowed_hosts shows up immediately), then
// a count.
type hostRefusals struct {
	log     *slog.Logger
	allowed string
	mu      sync.Mutex
	last    time.Time
	count   int64
}

func (h *hostRefusals) refused(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < hostRefusalLogEvery {
		return
	}
	h.log.Warn("requests refused with 400: Host not in allowed_hosts",
		"host", clip(host, 200), "requests_refused", h.count, "allowed_hosts", h.allowed)
	h.last, h.count = now, 0
}

// normalizeOrigin is origin as browsers send it in the Origin header:
// lower case, no default port. CrossOriginProtection compares exactly.
func normalizeOrigin(origin string) (string, error) {
	u, err := url.Parse(strings.ToLower(strings.TrimSpace(origin)))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server: trusted origin %q: want scheme://host[:port], http or https, nothing after", origin)
	}
	if p := u.Port(); p == "443" && u.Scheme == "https" || p == "80" && u.Scheme == "http" {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	return u.Scheme + "://" + u.Host, nil
}
