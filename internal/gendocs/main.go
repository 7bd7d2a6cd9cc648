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
		if err := os.WriteFile(filepath.Join(root, path), content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
