"""vaelab studio: the latent space in a browser. A small Starlette app under uvicorn serves one hand-written page
and a JSON API; every answer comes from the same task functions as the CLI (morph, arithmetic, blend, the latent
map and traversals), run on the models' ONNX files, so the server never imports torch.

Start it with ``vaelab studio`` or :func:`vaelab.studio.server.serve`; :func:`vaelab.studio.app.create_app` builds
the ASGI app for another server (see docs/deploy.md).
"""
