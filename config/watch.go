package config

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed whenever the content of the file at path changes,
// however it changed: written in place, replaced by an editor's rename, or
// swapped by Kubernetes through the ..data symlink of a mounted ConfigMap.
// It watches the file's directory rather than the file, because a watch on a
// replaced file goes silent, and compares content so that events which
// change nothing (a chmod, a second write of the same bytes) do not reload.
// Events are debounced: an editor's save fires several. Watch returns when
// ctx is done, or at once if the directory cannot be watched.
func Watch(ctx context.Context, path string, debounce time.Duration, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return err
	}
	last := fileSum(path)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			timer.Reset(debounce)
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events; look at the file anyway.
			timer.Reset(debounce)
		case <-timer.C:
			if sum := fileSum(path); sum != last {
				last = sum
				changed()
			}
		}
	}
}

// fileSum hashes the file's content; a missing file hashes as empty, so its
// reappearance counts as a change.
func fileSum(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}
