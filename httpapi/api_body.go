package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// formBinder is a JSON API request body that can also come as a form.
type formBinder interface {
	// bindForm fills the body from form values; a bad value is a
	// *domain.ValidationError naming its field.
	bindForm(v url.Values) error
}

// The JSON API's refusals of a body it cannot read.
var (
	errNotJSON          = &apiError{http.StatusBadRequest, "The request body is not valid JSON.", ""}
	errNotObject        = &apiError{http.StatusBadRequest, "The request body must be a JSON object.", ""}
	errUnsupportedMedia = &apiError{http.StatusUnsupportedMediaType, "The request body must be application/json or application/x-www-form-urlencoded.", ""}
)

// readBody reads a JSON API request body of at most limit bytes into dst,
// as Laravel reads its input:
//
//   - application/json (or any +json type): decoded with encoding/json;
//     unknown fields are ignored; a value of the wrong type is a
//     *domain.ValidationError naming its field (422), malformed JSON or
//     another document than an object an *apiError (400);
//   - application/x-www-form-urlencoded: through dst.bindForm;
//   - an empty body, whatever its type: dst is left as it is, so required
//     fields fail validation (422);
//   - any other content type: 415.
//
// A body over limit is an error wrapping *http.MaxBytesError (413).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, dst formBinder) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return domain.ErrInvalidRequest.WithDescription("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return decodeJSONBody(body, dst)
	case mediaType == formContentType:
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return domain.ErrInvalidRequest.WithDescription("the request body is not valid form encoding")
		}
		return dst.bindForm(values)
	}
	return errUnsupportedMedia
}

// decodeJSONBody decodes body, a JSON object, into dst.
func decodeJSONBody(body []byte, dst any) error {
	err := json.Unmarshal(body, dst)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field, _, _ := strings.Cut(typeErr.Field, ".")
		return &domain.ValidationError{Field: field, Message: "has the wrong type"}
	case errors.As(err, &typeErr):
		return errNotObject
	}
	return errNotJSON
}

// stringList is a JSON field that may be a string or an array of
// strings (null is empty), so `"redirect": "https://a/cb"` and
// `"redirect": ["https://a/cb"]` both read.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[[]string]()}
	}
	*l = many
	return nil
}

// formList returns every value of name and of name[] (PHP's array
// notation, which Passport's forms use).
func formList(v url.Values, name string) stringList {
	out := append(stringList(nil), v[name]...)
	return append(out, v[name+"[]"]...)
}

// formBool reads a Laravel "boolean" form field: absent is nil; 1, true,
// on and yes are true; 0, false, off, no and "" are false; anything else
// is a *domain.ValidationError.
func formBool(v url.Values, name string) (*bool, error) {
	vs, ok := v[name]
	if !ok {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(vs[0]) {
	case "1", "true", "on", "yes":
		b = true
	case "0", "false", "off", "no", "":
	default:
		return nil, &domain.ValidationError{Field: name, Message: "must be true or false"}
	}
	return &b, nil
}

// renameField returns err with a *domain.ValidationError about field from
// reported about field to instead, so a 422 names the field the client
// sent (Passport's "redirect" where the domain says "redirect_uris").
func renameField(err error, from, to string) error {
	if v, ok := domain.AsValidation(err); ok && v.Field == from && from != to {
		return &domain.ValidationError{Field: to, Message: v.Message}
	}
	return err
}
