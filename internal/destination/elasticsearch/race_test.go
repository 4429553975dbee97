//go:build race

package elasticsearch_test

// raceDetector: the race detector makes 100 MB requests take minutes.
const raceDetector = true
