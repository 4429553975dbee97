//go:build !race

package elasticsearch_test

const raceDetector = false
