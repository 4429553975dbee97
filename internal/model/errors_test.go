package model

import (
	"errors"
	"reflect"
	"testing"
)

func TestFieldErrors(t *testing.T) {
	var errs FieldErrors
	if errs.Err() != nil {
		t.Fatal("Err of no errors is not nil")
	}
	errs.Add("name", "is %s", "required")
	var inner FieldErrors
	inner.Add("url", "is required")
	inner.Add("", "is wrong as a whole")
	errs.Merge("settings", inner)
	errs.Merge("", FieldErrors{{Path: "top", Message: "kept"}})
	want := FieldErrors{
		{Path: "name", Message: "is required"},
		{Path: "settings.url", Message: "is required"},
		{Path: "settings", Message: "is wrong as a whole"},
		{Path: "top", Message: "kept"},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Fatalf("errs = %#v, want %#v", errs, want)
	}
	err := errs.Err()
	var fe FieldErrors
	if !errors.As(err, &fe) || len(fe) != 4 {
		t.Fatalf("Err() = %#v, not the FieldErrors", err)
	}
	if got := err.Error(); got != "name: is required; settings.url: is required; settings: is wrong as a whole; top: kept" {
		t.Errorf("Error() = %q", got)
	}
}
