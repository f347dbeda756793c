package pdcpfake

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendPage appends a listing answer, {"message":...,"data":[items]}, as
// encoding/json would write it (without HTML escaping). Written by hand
// because reflection-driven encoding was a third of the listing ceiling.
func appendPage(b []byte, items []item) []byte {
	b = append(b, `{"message":"Enumeration contents","data":[`...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, &items[i])
	}
	return append(b, "]}"...)
}

func appendItem(b []byte, it *item) []byte {
	b = append(b, `{"enumeration_id":`...)
	b = appendString(b, it.EnumerationID)
	b = append(b, `,"name":`...)
	b = appendString(b, it.Name)
	b = append(b, `,"created_at":`...)
	b = appendString(b, it.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendString(b, it.UpdatedAt)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, it.ID, 10)
	b = append(b, `,"labels":`...)
	b = appendStrings(b, it.Labels)
	b = append(b, `,"host":`...)
	b = appendString(b, it.Host)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(it.Port), 10)
	b = append(b, `,"is_new":`...)
	b = strconv.AppendBool(b, it.IsNew)
	b = append(b, `,"is_internal":`...)
	b = strconv.AppendBool(b, it.IsInternal)
	b = append(b, `,"domain_name":`...)
	b = appendString(b, it.DomainName)
	b = append(b, `,"ip":`...)
	b = appendStrings(b, it.IP)
	if len(it.CName) > 0 {
		b = append(b, `,"cname":`...)
		b = appendStrings(b, it.CName)
	}
	b = append(b, `,"technologies":`...)
	b = appendStrings(b, it.Technologies)
	b = append(b, `,"title":`...)
	b = appendString(b, it.Title)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(it.StatusCode), 10)
	b = append(b, `,"content_length":`...)
	b = strconv.AppendInt(b, int64(it.ContentLength), 10)
	b = append(b, `,"favicon":`...)
	b = appendString(b, it.Favicon)
	return append(b, '}')
}

// appendStrings writes a JSON array; nil is null, as encoding/json writes it.
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, valid UTF-8 as is. Invalid UTF-8 (a label a client
// sent as raw bytes) goes through encoding/json, which replaces it.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
