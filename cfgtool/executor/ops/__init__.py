"""One module per Darknet layer type: param_shapes(p, shape), forward(p, w, xs, train), backward(p, w, dout, cache).

The runner maps layer types to these modules through an explicit table (no import side effects).
"""
