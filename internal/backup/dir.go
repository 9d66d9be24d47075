package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a Target in a local directory (another disk, a mounted share).
// Put writes a temporary file beside the object, syncs it, renames it into
// place and syncs the directory, so an object is complete or absent even
// across a crash or power loss.
type Dir struct {
	Root string
}

var _ Target = (*Dir)(nil)

// tmpPrefix marks Dir's temporary files; List skips them.
const tmpPrefix = ".tmp-"

// NewDir returns the Dir target at root, creating it (0700) if needed.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("backup target: empty directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("backup target %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("backup target %s: %w", abs, err)
	}
	return &Dir{Root: abs}, nil
}

// Name implements Target.
func (d *Dir) Name() string { return "file://" + filepath.ToSlash(d.Root) }

// path maps an object name to a file, refusing names that would leave the
// root.
func (d *Dir) path(name string) (string, error) {
	if name == "" || !fs.ValidPath(name) || strings.Contains(name, "\\") {
		return "", fmt.Errorf("backup object name %q is not valid", name)
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

// Put implements Target.
func (d *Dir) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put %s on %s: wrote %d bytes, expected %d", name, d.Name(), n, size)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put %s on %s: sync: %w", name, d.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("put %s on %s: %w", name, d.Name(), err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s on %s: sync directory: %w", name, d.Name(), err)
	}
	return nil
}

// Get implements Target.
func (d *Dir) Get(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s from %s: %w", name, d.Name(), err)
	}
	return f, nil
}

// List implements Target.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == d.Root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, prefix) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Name(), err)
	}
	sort.Strings(names)
	return names, nil
}

// Delete implements Target; an emptied backup directory goes too.
func (d *Dir) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s from %s: %w", name, d.Name(), err)
	}
	if parent := filepath.Dir(p); parent != d.Root {
		os.Remove(parent) // fails, harmlessly, while not empty
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// cleanName is a target-relative name for an object of backup id.
func cleanName(id, object string) string { return path.Join(id, object) }
