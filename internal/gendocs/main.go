// Command gendocs writes the files generated from code (make generate): the
// config JSON Schema, the configuration reference and the reasons table.
// Tests compare the committed files with what this would write.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/authprobe/authprobe/internal/gendocs/generated"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	files, err := generated.Files()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(full, content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
