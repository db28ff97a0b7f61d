package bench

import (
	"os"
	"testing"

	"selfcare/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
