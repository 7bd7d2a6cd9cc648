package generated

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed generated files match the code; run make generate if not.
func TestCommittedFilesAreCurrent(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", "..", path))
		if err != nil {
			t.Errorf("%s: %v; run make generate", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale; run make generate", path)
		}
	}
}
