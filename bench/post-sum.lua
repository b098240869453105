-- wrk script: POST /sum with a JSON body, as addsvc's clients send it.
wrk.method = "POST"
wrk.body = '{"a": 40, "b": 2}'
wrk.headers["Content-Type"] = "application/json"
