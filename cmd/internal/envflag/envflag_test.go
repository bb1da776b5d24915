package envflag

import (
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	a := fs.String("role-id-file", "", "")
	b := fs.String("mount", "wg", "")
	c := fs.Int("listen-port", 0, "")
	t.Setenv("T_ROLE_ID_FILE", "/env/role")
	t.Setenv("T_MOUNT", "from-env")
	t.Setenv("T_LISTEN_PORT", "51820")
	if err := Parse(fs, []string{"-mount", "from-flag"}, "T_"); err != nil {
		t.Fatal(err)
	}
	if *a != "/env/role" || *b != "from-flag" || *c != 51820 {
		t.Fatalf("got %q %q %d", *a, *b, *c)
	}

	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("listen-port", 0, "")
	t.Setenv("T_LISTEN_PORT", "many")
	if err := Parse(fs, nil, "T_"); err == nil || err.Error() != `T_LISTEN_PORT="many": parse error` {
		t.Fatalf("err = %v", err)
	}
}
