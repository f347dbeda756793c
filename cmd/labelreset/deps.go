package main

// Temporary: pins the dependencies every part of the project builds on, so
// parallel work shares one go.mod. Removed once real code imports them.
import (
	_ "github.com/RoaringBitmap/roaring/v2/roaring64"
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/go-redis/redis_rate/v10"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/hibiken/asynq"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/robfig/cron/v3"
	_ "go.uber.org/goleak"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)

func main() {}
