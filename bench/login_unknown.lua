-- wrk script: POST credentials of a name that does not exist to /api/user/login (answers 404)
wrk.method = "POST"
wrk.body = '{"name":"nobody-by-this-name","password":"password"}'
wrk.headers["Content-Type"] = "application/json"
