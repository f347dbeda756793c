// Handing the new-campaign form to POST /v1/campaigns: the browser's
// multipart body is rewritten part by part into the API's multipart body
// through a pipe, so that an upload of tens of megabytes flows through
// once and is never held in memory.

package console

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
)

const (
	// maxFieldBytes is what the console reads of one text field. The
	// API refuses a longer field with its own message, so one byte more
	// than its limit (64 KiB) is passed on.
	maxFieldBytes = 64<<10 + 1
	// maxKeptIDs is how much of the pasted IDs the form shows again
	// after a plan; a longer paste has to be pasted again.
	maxKeptIDs = 1 << 20
	// maxParts bounds the parts of the browser's form, which the API
	// does not see all of (empty file inputs, fields it does not know).
	maxParts = 64
	// maxReplyBytes bounds the API's answer the console keeps: a plan or
	// a campaign, a few kilobytes.
	maxReplyBytes = 1 << 20
	// pastedName is the file name pasted IDs are sent under; the API's
	// bad rows name it ("pasted-ids:3: ...").
	pastedName = "pasted-ids"
)

// formError is a refusal of the console's own: a file and pasted IDs,
// or neither. It is the only check the console adds to the API's.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

var (
	errBoth    = &formError{"Choose a file or paste IDs, not both."}
	errNeither = &formError{"Choose a file of asset IDs or paste IDs."}
	errParts   = &formError{"The form has too many parts."}
)

// textFields are the form's fields passed on to the API as they are
// (when not blank); the ID sources and the snapshot checkbox are handled
// apart.
var textFields = []string{"name", "campaign_id", "mode", "labels", "team_id", "priority", "notify"}

// forward rewrites the browser's form mr into the API's multipart body,
// written to mw over out, and records the values in f for the page shown
// again. It returns a *formError for a form the console refuses. After a
// refusal, or once the API stops reading (it has answered: a body over
// its limit, a busy server), it reads on for the values of the text
// fields and the pasted IDs, but stops at a file.
func forward(mr *multipart.Reader, mw *multipart.Writer, out *trackWriter, f *newForm) error {
	var haveFile, haveIDs, snapshot bool
	// stopped is why nothing more is written: a *formError, or the
	// API's end of the pipe closed.
	var stopped error
	stop := func(err error) error {
		if out.err != nil {
			err = out.err
		}
		var fe *formError
		if errors.As(err, &fe) || out.err != nil {
			stopped = err
			return nil
		}
		return err // the browser's body failed
	}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n >= maxParts {
			return errParts
		}
		switch name := part.FormName(); {
		case name == "file":
			if part.FileName() == "" {
				// A file input with no file chosen.
				break
			}
			f.FileName = part.FileName()
			if haveIDs && stopped == nil {
				stopped = errBoth
			}
			if stopped != nil {
				return stopped
			}
			haveFile = true
			w, err := mw.CreateFormFile("file", part.FileName())
			if err == nil {
				_, err = io.Copy(w, part)
			}
			if err := stop(err); err != nil {
				return err
			}
		case name == "ids":
			kept := &keptText{max: maxKeptIDs}
			in := io.TeeReader(part, kept)
			iw := &idsWriter{open: func() (io.Writer, error) {
				switch {
				case stopped != nil:
					return nil, stopped
				case haveFile:
					return nil, errBoth
				}
				haveIDs = true
				return mw.CreateFormFile("file", pastedName)
			}}
			err := iw.copy(in)
			if err != nil {
				if err = stop(err); err == nil {
					_, err = io.Copy(io.Discard, in)
				}
			}
			if err != nil {
				return err
			}
			f.IDs, f.IDsDropped = kept.String(), kept.over
		case name == "snapshot":
			snapshot = true
		case slices.Contains(textFields, name):
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes))
			if err != nil {
				return err
			}
			v := string(b)
			f.set(name, v)
			if stopped != nil || strings.TrimSpace(v) == "" {
				// An empty input is the API's default, not an
				// empty value (labels="" would be refused).
				break
			}
			if err := stop(mw.WriteField(name, v)); err != nil {
				return err
			}
		}
		part.Close()
	}
	f.Snapshot = snapshot
	switch {
	case stopped != nil:
		return stopped
	case !haveFile && !haveIDs:
		return errNeither
	}
	// An unchecked checkbox sends nothing; the API's default is true.
	return mw.WriteField("snapshot", map[bool]string{true: "true", false: "false"}[snapshot])
}

// trackWriter keeps the first error of writing to w: the API's end of
// the pipe closed.
type trackWriter struct {
	w   io.Writer
	err error
}

func (t *trackWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

// idsWriter turns pasted IDs into an ID file of one ID per line: commas,
// semicolons, spaces and tabs between IDs become line breaks and line
// breaks stay, so that IDs pasted one per line keep their line numbers in
// the API's bad rows. The file part is opened at the first ID only, so
// that a blank textarea sends nothing.
type idsWriter struct {
	open func() (io.Writer, error)
	w    *bufio.Writer
	// blank counts the line breaks before the first ID.
	blank          int
	inID, sepAfter bool
}

func (iw *idsWriter) copy(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := iw.byte(b); err != nil {
			return err
		}
	}
	if iw.w == nil {
		return nil
	}
	if iw.inID {
		iw.w.WriteByte('\n')
	}
	return iw.w.Flush()
}

func (iw *idsWriter) byte(b byte) error {
	switch b {
	case '\n':
		iw.inID, iw.sepAfter = false, false
		if iw.w == nil {
			iw.blank++
			return nil
		}
		return iw.w.WriteByte('\n')
	case ',', ';', ' ', '\t', '\r':
		if iw.inID {
			iw.sepAfter = true
		}
		return nil
	}
	if iw.w == nil {
		w, err := iw.open()
		if err != nil {
			return err
		}
		iw.w = bufio.NewWriterSize(w, 64<<10)
		iw.w.Write(bytes.Repeat([]byte{'\n'}, iw.blank))
	}
	if iw.sepAfter {
		iw.w.WriteByte('\n')
		iw.sepAfter = false
	}
	iw.inID = true
	return iw.w.WriteByte(b)
}

// keptText keeps the first max bytes written to it, and whether there
// were more.
type keptText struct {
	b    strings.Builder
	max  int
	over bool
}

func (k *keptText) Write(p []byte) (int, error) {
	if !k.over {
		if k.b.Len()+len(p) > k.max {
			k.over = true
		} else {
			k.b.Write(p)
		}
	}
	return len(p), nil
}

func (k *keptText) String() string {
	if k.over {
		return ""
	}
	return k.b.String()
}

// apiReply records the API's answer to a request the console made on
// the browser's behalf. Unwrap reaches the browser's connection, so that
// the API's guard against slow uploads (a read deadline) applies to the
// browser's body, which is the body it reads through the pipe.
type apiReply struct {
	under  http.ResponseWriter
	header http.Header
	status int
	body   bytes.Buffer
}

func newAPIReply(under http.ResponseWriter) *apiReply {
	return &apiReply{under: under, header: http.Header{}}
}

func (a *apiReply) Header() http.Header { return a.header }

func (a *apiReply) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *apiReply) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if a.body.Len()+len(p) > maxReplyBytes {
		return 0, errors.New("console: the API's answer is too long")
	}
	return a.body.Write(p)
}

func (a *apiReply) Unwrap() http.ResponseWriter { return a.under }
