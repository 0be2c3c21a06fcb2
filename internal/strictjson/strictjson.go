// Package strictjson decodes configuration JSON strictly: an unknown field
// is an error, and an error names the top-level field it is about.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Decode decodes data into v, refusing unknown fields. Errors are prefixed
// with what and, where one field is to blame, name it: each top-level
// field is first decoded on its own so that a bad value (which
// encoding/json reports without a path when a TextUnmarshaler refuses it)
// is still traced to its field.
func Decode(data []byte, v any, what string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		// A fresh value of v's type for each field.
		probe := newLike(v)
		if err := decode(one, probe); err != nil {
			return fmt.Errorf("%s: field %q: %w", what, k, err)
		}
	}
	if err := decode(data, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func decode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
