// Messages for YAML errors that name the file, the line and the field as
// the file spells them, rather than yaml.v3's Go type names.

package schedule

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineOf returns the line of the value at path below a schedule's mapping
// node, or of the closest ancestor found.
func lineOf(n *yaml.Node, path ...string) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		var found *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				found = n.Content[i+1]
				line = n.Content[i].Line
				if found.Kind == yaml.ScalarNode || found.Kind == yaml.SequenceNode && found.Style&yaml.FlowStyle != 0 {
					line = found.Line
				}
			}
		}
		if found == nil {
			break
		}
		n = found
	}
	return line
}

// scheduleNodes returns the mapping nodes of the schedules list.
func scheduleNodes(doc *yaml.Node) []*yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "schedules" && root.Content[i+1].Kind == yaml.SequenceNode {
			return root.Content[i+1].Content
		}
	}
	return nil
}

func rootLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return 1
}

var (
	yamlLineRe     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	notFoundRe     = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	unmarshalIntoR = regexp.MustCompile(`^cannot unmarshal (.*) into (\S+)$`)
)

// yamlTypes maps the Go type names in yaml.v3 messages to what they are in
// the file and their known fields.
var yamlTypes = map[string]struct {
	what string
	typ  reflect.Type
}{
	"schedule.Config":      {"the top level", reflect.TypeFor[Config]()},
	"schedule.Schedule":    {"a schedule", reflect.TypeFor[Schedule]()},
	"schedule.Source":      {"source", reflect.TypeFor[Source]()},
	"schedule.CSVSource":   {"source.csv", reflect.TypeFor[CSVSource]()},
	"schedule.URLSource":   {"source.url", reflect.TypeFor[URLSource]()},
	"schedule.QuerySource": {"source.pdcp_query", reflect.TypeFor[QuerySource]()},
}

func yamlFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			out = append(out, strings.Split(tag, ",")[0])
		}
	}
	return out
}

// yamlError turns a yaml.v3 error into ConfigErrors with file and line.
func yamlError(name string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		ce := &ConfigError{File: name, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLineRe.FindStringSubmatch(m); sm != nil {
			ce.Line, _ = strconv.Atoi(sm[1])
			ce.Msg = sm[2]
		}
		if sm := notFoundRe.FindStringSubmatch(ce.Msg); sm != nil {
			if t, ok := yamlTypes[sm[2]]; ok {
				ce.Msg = fmt.Sprintf("unknown field %q in %s (known: %s)", sm[1], t.what, strings.Join(yamlFields(t.typ), ", "))
			} else {
				ce.Msg = fmt.Sprintf("unknown field %q", sm[1])
			}
		} else if sm := unmarshalIntoR.FindStringSubmatch(ce.Msg); sm != nil {
			ce.Msg = fmt.Sprintf("cannot use %s here: want %s", sm[1], friendlyType(sm[2]))
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

func friendlyType(t string) string {
	switch t {
	case "int", "int64":
		return "an integer"
	case "string", "jobs.Mode":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "bool", "*bool":
		return "true or false"
	case "time.Duration":
		return "a duration such as \"30s\""
	case "[]schedule.Schedule":
		return "a list of schedules"
	}
	if t, ok := yamlTypes[strings.TrimPrefix(t, "*")]; ok {
		return "a mapping (" + t.what + ")"
	}
	return t
}
