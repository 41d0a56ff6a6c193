package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPartsDoNotImportEachOther keeps stream, chat, cart and web apart: only
// cmd/livecart knows them all.
func TestPartsDoNotImportEachOther(t *testing.T) {
	const mod = "github.com/livecart/livecart/"
	parts := []string{"stream", "chat", "cart", "web"}
	for _, part := range parts {
		t.Run(part, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+part).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", part, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 2 {
				t.Fatalf("go list -deps %s listed %d packages; expected its dependencies", part, len(deps))
			}
			for _, dep := range deps {
				for _, other := range parts {
					if other != part && (dep == mod+other || strings.HasPrefix(dep, mod+other+"/")) {
						t.Errorf("%s imports %s", part, dep)
					}
				}
				if strings.HasPrefix(dep, mod+"cmd/") {
					t.Errorf("%s imports %s", part, dep)
				}
			}
		})
	}
}
