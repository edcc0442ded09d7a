"""One module per Darknet layer type: param_shapes(p, shape), forward(p, w, xs, train), backward(p, w, dout, cache).

``xs`` are the layer's inputs as NCHW arrays: [previous layer's output] for sequential layers;
the referenced layers in order for route; [previous, *from layers] for shortcut; [previous, from
layer] for scale_channels and sam. ``p`` is the layer's LayerShape.params (Darknet's layer-struct
field names), ``w`` its learnable tensors by name in Darknet's .weights order (param_shapes).
forward returns (out, cache); backward returns (gradients of the xs in order, gradients of w).

The runner maps layer types to these modules through an explicit table (no import side effects).
"""
