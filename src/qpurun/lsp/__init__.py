"""The language server: what an editor learns about a spec as it is typed (`qpurun lsp`).

analysis.py  one document's problems and its name index, without the protocol
server.py    the protocol, on pygls: diagnostics, hover, completion, definition,
             references, rename, formatting, document symbols
"""
