package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds the parsed templates (one set per page, each with the layout)
// and the static assets under content-hashed names.
type pages struct {
	sets map[string]*template.Template
	// assets maps a hashed name ("app.3f2a9c1b.css") to its content, and
	// names maps the plain name to the hashed one.
	assets map[string][]byte
	names  map[string]string
}

func loadPages() (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}, assets: map[string][]byte{}, names: map[string]string{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("read static assets: %w", err)
	}
	for _, e := range entries {
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read asset %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext
		p.assets[hashed] = b
		p.names[e.Name()] = hashed
	}
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			h, ok := p.names[name]
			if !ok {
				return "", fmt.Errorf("unknown asset %q", name)
			}
			return "/static/" + h, nil
		},
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	// Files named _*.html hold partials (one per second-factor method…)
	// that every page may include.
	shared := []string{"templates/layout.html"}
	for _, f := range files {
		if strings.HasPrefix(path.Base(f), "_") {
			shared = append(shared, f)
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, append(shared, f)...)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", f, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// pageUser is what the layout shows of the signed-in user.
type pageUser struct {
	Name, Email string
}

// pageData is what every template receives.
type pageData struct {
	Title string
	CSRF  string
	User  *pageUser
	// Org is the current organisation on organisation pages, else nil.
	Org   *pageOrg
	Flash string
	Error string
	Data  map[string]any
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	t, ok := s.pages.sets[name]
	if !ok {
		s.log.Error("unknown template", "template", name, logKeyRequestID, requestID(r))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if d.Data == nil {
		d.Data = map[string]any{}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("render", "template", name, logKeyRequestID, requestID(r), logKeyErr, err)
		http.Error(w, "internal error; reference "+requestID(r), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, ok := s.pages.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	// The name carries the content hash, so it can be cached for good.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(b)
}
