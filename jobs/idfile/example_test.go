package idfile_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/labelreset/labelreset/jobs/idfile"
)

func Example() {
	in := "\ufeffname,Asset ID\r\n" +
		"\"Doe, John\",1001\r\n" +
		"# a comment\r\n" +
		"Roe,0\r\n" +
		"Poe,1002\r\n"
	r := idfile.NewReader(strings.NewReader(in), "assets.csv", idfile.Options{})
	for {
		row, err := r.Next()
		var bad *idfile.BadRow
		switch {
		case err == nil:
			fmt.Println("line", row.Line, "id", row.ID)
			continue
		case errors.As(err, &bad):
			fmt.Println("skipped:", bad)
			continue
		case err == io.EOF:
		default:
			fmt.Println("error:", err)
		}
		break
	}
	cols, idCol, _ := r.Header()
	fmt.Printf("header %q, IDs in column %d\n", cols, idCol)
	// Output:
	// line 2 id 1001
	// skipped: assets.csv:4: "0": must be > 0
	// line 5 id 1002
	// header ["name" "Asset ID"], IDs in column 1
}
