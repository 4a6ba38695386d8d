//go:build tools

// Package tools pins FerretDB as a dependency: built as the main module it panics at start
// (it wants build/version/version.txt), built as a dependency it does not.
package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
