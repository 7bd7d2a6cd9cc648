package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	write := func(t *testing.T, path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) string // returns the watched path
		change func(t *testing.T, dir string)
		fires  bool
	}{
		{
			name:   "written in place",
			setup:  func(t *testing.T, dir string) string { p := filepath.Join(dir, "c.yaml"); write(t, p, "a"); return p },
			change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "c.yaml"), "b") },
			fires:  true,
		},
		{
			name:  "replaced by rename, as editors save",
			setup: func(t *testing.T, dir string) string { p := filepath.Join(dir, "c.yaml"); write(t, p, "a"); return p },
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, ".c.yaml.swp"), "b")
				if err := os.Rename(filepath.Join(dir, ".c.yaml.swp"), filepath.Join(dir, "c.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			fires: true,
		},
		{
			name: "Kubernetes ConfigMap ..data symlink swap",
			setup: func(t *testing.T, dir string) string {
				os.Mkdir(filepath.Join(dir, "..2026_11_22_01"), 0o755)
				write(t, filepath.Join(dir, "..2026_11_22_01", "c.yaml"), "a")
				must(t, os.Symlink("..2026_11_22_01", filepath.Join(dir, "..data")))
				must(t, os.Symlink("..data/c.yaml", filepath.Join(dir, "c.yaml")))
				return filepath.Join(dir, "c.yaml")
			},
			change: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "..2026_11_22_02"), 0o755)
				write(t, filepath.Join(dir, "..2026_11_22_02", "c.yaml"), "b")
				must(t, os.Symlink("..2026_11_22_02", filepath.Join(dir, "..data_tmp")))
				must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
				must(t, os.RemoveAll(filepath.Join(dir, "..2026_11_22_01")))
			},
			fires: true,
		},
		{
			name:   "same content written again",
			setup:  func(t *testing.T, dir string) string { p := filepath.Join(dir, "c.yaml"); write(t, p, "a"); return p },
			change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "c.yaml"), "a") },
			fires:  false,
		},
		{
			name:   "another file in the directory",
			setup:  func(t *testing.T, dir string) string { p := filepath.Join(dir, "c.yaml"); write(t, p, "a"); return p },
			change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "other.yaml"), "b") },
			fires:  false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			ctx, cancel := context.WithCancel(context.Background())
			fired := make(chan struct{}, 10)
			done := make(chan error)
			go func() { done <- Watch(ctx, path, 50*time.Millisecond, func() { fired <- struct{}{} }) }()
			time.Sleep(100 * time.Millisecond) // let the watch start
			tt.change(t, dir)
			select {
			case <-fired:
				if !tt.fires {
					t.Error("reloaded although the content did not change")
				}
			case <-time.After(time.Second):
				if tt.fires {
					t.Error("no reload within 1s of the change")
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(fired) > 0 {
				t.Errorf("%d extra reloads for one change; events are not debounced", len(fired))
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
