"""`edamon serve`: the collector as an HTTP service (/v1 JSON API, OpenAPI, bearer tokens).

app.py: the routes; backend.py: what they ask of the collector and the retry service;
server.py: running it (socket, uvicorn, signals); auth.py: tokens and roles; paging.py: pages of
rows; docs.py: model objects -> the API's documents (edamon.model.api).
"""
