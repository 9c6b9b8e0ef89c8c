package app

import (
	"encoding/json"
	"io"
	"reflect"
)

// The CLI's --json output follows one convention: snake_case keys (every
// type it prints has snake_case json tags; TestCLIJSON checks each
// command) and arrays that print as [] when empty, never null.

// writeJSON writes v as one line of JSON, with every nil slice in it
// (outside json.RawMessage and other byte slices) written as [].
func writeJSON(w io.Writer, v any) error {
	if v == nil {
		return json.NewEncoder(w).Encode(v)
	}
	rv := reflect.New(reflect.TypeOf(v)).Elem()
	rv.Set(reflect.ValueOf(v))
	emptySlices(rv)
	return json.NewEncoder(w).Encode(rv.Interface())
}

// emptySlices replaces, in place, the nil slices reachable from the
// settable v by empty ones. Values behind pointers are changed too: the
// CLI prints what it built for printing.
func emptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptySlices(v.Elem())
		}
	case reflect.Interface:
		if !v.IsNil() {
			inner := reflect.New(v.Elem().Type()).Elem()
			inner.Set(v.Elem())
			emptySlices(inner)
			v.Set(inner)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				emptySlices(v.Field(i))
			}
		}
	case reflect.Slice:
		switch {
		case v.Type().Elem().Kind() == reflect.Uint8: // bytes, raw JSON
		case v.IsNil():
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			for i := range v.Len() {
				emptySlices(v.Index(i))
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			emptySlices(v.Index(i))
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			emptySlices(e)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}
