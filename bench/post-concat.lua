-- wrk script: POST /concat (addsvc calls stringsvc), and the latency
-- percentiles wrk does not print by default.
wrk.method = "POST"
wrk.body = '{"a": "go", "b": "kit"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  io.write(string.format("TAIL requests=%d errors=%d p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
