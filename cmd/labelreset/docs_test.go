package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The documents live beside the code, so a moved section or a renamed
// heading breaks their links silently unless a test follows every one.
// The CLI's package holds the test because the repository root has no Go
// package of its own.

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// TestReadmeStartsWithTheTwoCommands: a newcomer with only Go reads the
// demo and the test command before anything else.
func TestReadmeStartsWithTheTwoCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	want := []string{"go run ./cmd/labelreset run --demo", "go test ./..."}
	if len(lines) < 4 {
		t.Fatalf("README.md has %d lines, want the title, a blank line and the two commands", len(lines))
	}
	for i, w := range want {
		got := strings.TrimSpace(lines[2+i])
		if got != w && !strings.HasPrefix(got, w+" ") {
			t.Errorf("README.md:%d: got %q, want the command %q", 3+i, got, w)
		}
	}
}

// TestMarkdownLinksResolve: every relative link of every markdown file
// points to a file or directory that exists and, when it names an anchor of
// a markdown file, to a heading of that file.
func TestMarkdownLinksResolve(t *testing.T) {
	root := repoRoot(t)
	docs, err := markdownFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 2 {
		t.Fatalf("found %d markdown files under %s, want README.md and the others", len(docs), root)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		a, err := headingAnchors(path)
		if err != nil {
			return nil, err
		}
		anchors[path] = a
		return a, nil
	}
	links := 0
	for _, doc := range docs {
		refs, err := markdownLinks(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for _, r := range refs {
			links++
			target, anchor, _ := strings.Cut(r.target, "#")
			path := doc
			if target != "" {
				path = filepath.Join(filepath.Dir(doc), filepath.FromSlash(target))
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s:%d: link %q: %v", rel, r.line, r.target, err)
				continue
			}
			if anchor == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			a, err := anchorsOf(path)
			if err != nil {
				t.Fatal(err)
			}
			if !a[anchor] {
				t.Errorf("%s:%d: link %q: no heading with the anchor %q in %s", rel, r.line, r.target, anchor, filepath.Base(path))
			}
		}
	}
	if links == 0 {
		t.Fatal("found no relative link at all: the link pattern does not match")
	}
}

// markdownFiles lists the repository's markdown files, leaving out hidden
// directories (.git, .ci) and testdata.
func markdownFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

type markdownLink struct {
	line   int
	target string
}

var (
	linkPattern = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan    = regexp.MustCompile("`[^`]*`")
	hasScheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdownLinks returns the relative links of a file, outside fenced code
// blocks and code spans, where brackets are text rather than links.
func markdownLinks(path string) ([]markdownLink, error) {
	var links []markdownLink
	err := eachProseLine(path, func(n int, line string) {
		for _, m := range linkPattern.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			if !hasScheme.MatchString(m[1]) {
				links = append(links, markdownLink{line: n, target: m[1]})
			}
		}
	})
	return links, err
}

// headingAnchors returns the anchors GitHub gives a file's headings:
// lower case, punctuation other than - and _ dropped, spaces as -, and
// -1, -2 ... for repeated headings.
func headingAnchors(path string) (map[string]bool, error) {
	anchors := map[string]bool{}
	seen := map[string]int{}
	err := eachProseLine(path, func(_ int, line string) {
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") || len(line)-len(strings.TrimLeft(line, "#")) > 6 {
			return
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	})
	return anchors, err
}

// eachProseLine calls fn with every line outside fenced code blocks.
func eachProseLine(path string, fn func(n int, line string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1<<20)
	fenced := false
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			fn(n, line)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
