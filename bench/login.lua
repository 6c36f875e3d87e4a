-- wrk script: POST the seed user's credentials to /api/user/login
wrk.method = "POST"
wrk.body = '{"name":"user","password":"password"}'
wrk.headers["Content-Type"] = "application/json"
