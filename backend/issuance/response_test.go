package issuance

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// filled returns a Response whose every field is set, found by reflection
// so that a field added later is covered too.
func filled(t *testing.T) Response {
	t.Helper()
	var r Response
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{v.Type().Field(i).Name}))
		default:
			require.Failf(t, "kind not handled", "field %s: %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	return r
}

// TestDataIsTheJSON: Data carries every field under its JSON name, so what
// the engine answers through Data is what a reader decoding a Response gets.
func TestDataIsTheJSON(t *testing.T) {
	for name, r := range map[string]Response{"every field": filled(t), "no private key": {SerialNumber: "01", MTU: 1380}} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(r)
			require.NoError(t, err)
			got, err := json.Marshal(r.Data())
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))

			var back Response
			dec := json.NewDecoder(bytes.NewReader(got))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&back))
			require.Equal(t, r, back)
		})
	}
}
