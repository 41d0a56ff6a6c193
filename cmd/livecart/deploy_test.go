package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeploymentFilesSetOnlyKnownVariables keeps docker-compose.yml, its
// .env.example and the Kubernetes manifests from setting variables that
// livecart does not read (a typo there fails silently in production).
func TestDeploymentFilesSetOnlyKnownVariables(t *testing.T) {
	known := EnvNames()
	root := filepath.Join("..", "..")
	check := func(t *testing.T, where string, names []string) {
		t.Helper()
		if len(names) == 0 {
			t.Errorf("%s sets no LIVECART_ variable; the parser found nothing to check", where)
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				t.Errorf("%s sets %s, which livecart does not read (known: %s)", where, n, strings.Join(known, ", "))
			}
		}
	}

	t.Run("docker-compose.yml", func(t *testing.T) {
		var compose struct {
			Services map[string]struct {
				Environment yaml.Node `yaml:"environment"`
				EnvFile     yaml.Node `yaml:"env_file"`
				Build       any       `yaml:"build"`
			} `yaml:"services"`
		}
		mustYAML(t, filepath.Join(root, "docker-compose.yml"), &compose)
		svc, ok := compose.Services["livecart"]
		if !ok {
			t.Fatal("docker-compose.yml has no livecart service")
		}
		check(t, "docker-compose.yml livecart.environment", envNodeNames(t, &svc.Environment))
		for _, name := range []string{"redis", "turn"} {
			if _, ok := compose.Services[name]; !ok {
				t.Errorf("docker-compose.yml has no %s service", name)
			}
		}
	})

	t.Run(".env.example", func(t *testing.T) {
		f, err := os.Open(filepath.Join(root, ".env.example"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, _, _ := strings.Cut(line, "=")
			names = append(names, name)
		}
		check(t, ".env.example", names)
	})

	t.Run("deploy", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(root, "deploy", "*.yaml"))
		if len(files) == 0 {
			t.Fatal("no manifests in deploy/")
		}
		var names []string
		kinds := map[string]bool{}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc struct {
					Kind     string `yaml:"kind"`
					Metadata struct {
						Name string `yaml:"name"`
					} `yaml:"metadata"`
					StringData map[string]string `yaml:"stringData"`
					Spec       struct {
						Template struct {
							Spec struct {
								Containers []struct {
									Name string `yaml:"name"`
									Env  []struct {
										Name string `yaml:"name"`
									} `yaml:"env"`
									Ports []struct {
										ContainerPort int    `yaml:"containerPort"`
										Protocol      string `yaml:"protocol"`
									} `yaml:"ports"`
								} `yaml:"containers"`
							} `yaml:"spec"`
						} `yaml:"template"`
					} `yaml:"spec"`
				}
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				kinds[doc.Kind] = true
				if doc.Kind == "Secret" && doc.Metadata.Name == "livecart" {
					for k := range doc.StringData {
						names = append(names, k)
					}
				}
				for _, c := range doc.Spec.Template.Spec.Containers {
					if c.Name != "livecart" {
						continue
					}
					for _, e := range c.Env {
						// Kubernetes' own variables, referenced by $(NAME)
						// from livecart's, are not livecart settings.
						if strings.HasPrefix(e.Name, "LIVECART_") {
							names = append(names, e.Name)
						}
					}
					udp := false
					for _, p := range c.Ports {
						udp = udp || (p.Protocol == "UDP" && p.ContainerPort == 8443)
					}
					if !udp {
						t.Errorf("%s: the livecart container does not expose UDP 8443 for media", file)
					}
				}
			}
		}
		for _, k := range []string{"Deployment", "Service", "Secret"} {
			if !kinds[k] {
				t.Errorf("deploy/ has no %s", k)
			}
		}
		check(t, "deploy/*.yaml", names)
	})
}

func mustYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// envNodeNames reads a compose environment, given as a map or a list.
func envNodeNames(tb testing.TB, n *yaml.Node) []string {
	tb.Helper()
	var names []string
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			names = append(names, n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			name, _, _ := strings.Cut(item.Value, "=")
			names = append(names, name)
		}
	default:
		tb.Fatalf("environment is neither a map nor a list")
	}
	return names
}
