package testcluster

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func validParams() NginxParams {
	return NginxParams{Listen: "127.0.0.1:8443", ServerName: "localhost", Cert: "/d/c.pem", Key: "/d/k.pem",
		NodeCA: "/d/ca.pem", NodeTLSName: "localhost", Nodes: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}}
}

func TestFillTemplate(t *testing.T) {
	tmpl, err := os.ReadFile("../../deploy/nginx/coffer.conf")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		out, err := FillTemplate(string(tmpl), validParams())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range validParams().Nodes {
			if !strings.Contains(out, "server "+n+" max_fails=") {
				t.Errorf("no server line for %s:\n%s", n, out)
			}
		}
		for _, want := range []string{"listen 127.0.0.1:8443 ssl;", "proxy_ssl_verify              on;",
			"proxy_next_upstream         error timeout http_502 http_503;", "X-Forwarded-For   $remote_addr;"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q", want)
			}
		}
		if strings.Contains(out, "non_idempotent") && !strings.Contains(out, "# ") {
			t.Error("non_idempotent must stay off")
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") && strings.Contains(line, "@") {
				t.Errorf("placeholder left: %q", line)
			}
		}
	})
	tests := []struct {
		name   string
		tmpl   string
		change func(*NginxParams)
		want   string
	}{
		{"ErrEmptyValue", string(tmpl), func(p *NginxParams) { p.Cert = "" }, "@CERT@ is empty"},
		{"ErrInjection", string(tmpl), func(p *NginxParams) { p.ServerName = "x; include /etc/passwd" }, "syntax"},
		{"ErrNodeInjection", string(tmpl), func(p *NginxParams) { p.Nodes = []string{"127.0.0.1:1 backup"} }, "syntax"},
		{"ErrNoNodes", string(tmpl), func(p *NginxParams) { p.Nodes = nil }, "no nodes"},
		{"ErrNoNodeLine", "listen @LISTEN@;\n", func(*NginxParams) {}, "found 0"},
		{"ErrUnknownPlaceholder", "server @NODE@;\nfoo @OTHER@;\n", func(*NginxParams) {}, "placeholder left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validParams()
			tt.change(&p)
			_, err := FillTemplate(tt.tmpl, p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzFillTemplate: whatever the values, either an error or a
// configuration whose directives hold exactly the values given, with no
// extra nginx syntax smuggled in.
func FuzzFillTemplate(f *testing.F) {
	tmpl, err := os.ReadFile("../../deploy/nginx/coffer.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("127.0.0.1:8443", "localhost", "127.0.0.1:1")
	f.Add("443", "a;b", "x y")
	f.Add("", "{", "@NODE@")
	f.Fuzz(func(t *testing.T, listen, name, node string) {
		p := validParams()
		p.Listen, p.ServerName, p.Nodes = listen, name, []string{node}
		out, err := FillTemplate(string(tmpl), p)
		if err != nil {
			return
		}
		count := func(s, sub string) int { return strings.Count(s, sub) }
		ref, err := FillTemplate(string(tmpl), validParams())
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{";", "{", "}", "\n"} {
			// The reference has three node lines, this one one.
			want := count(ref, ch)
			if ch == ";" || ch == "\n" {
				want -= 2
			}
			if got := count(out, ch); got != want {
				t.Fatalf("%q count %d, want %d:\n%s", ch, got, want, out)
			}
		}
		if !strings.Contains(out, "listen "+listen+" ssl;") || !strings.Contains(out, "server_name "+name+";") ||
			!strings.Contains(out, "server "+node+" max_fails=") {
			t.Fatalf("values not in place:\n%s", out)
		}
	})
}

// TestCluster: two nodes behind nginx answer; with one killed, every
// request through nginx still succeeds (nginx moves on to the other);
// after a restart the node serves again.
func TestCluster(t *testing.T) {
	c := Start(t, Options{Nodes: 2, Nginx: true})
	hc := c.HTTPClient("127.0.0.9")
	get := func(url string) int {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, c.NginxLog())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 6; i++ {
		if code := get(c.URL + "/readyz"); code != http.StatusOK {
			t.Fatalf("through nginx: %d", code)
		}
	}
	c.Kill(0)
	hc.CloseIdleConnections()
	for i := 0; i < 10; i++ {
		if code := get(c.URL + "/readyz"); code != http.StatusOK {
			t.Fatalf("through nginx with node 0 killed: %d\n%s", code, c.NginxLog())
		}
	}
	c.Restart(0)
	direct := c.Nodes[0].HTTPClient("")
	resp, err := direct.Get(c.Nodes[0].URL + "/readyz")
	if err != nil {
		t.Fatalf("restarted node: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("restarted node /readyz: %d", resp.StatusCode)
	}
}
