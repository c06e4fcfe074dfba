#include <stdexcept>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners {

std::unique_ptr<Layer> make_layer(const nets::Node& n, const nets::Graph& g, bool fuse_bn_relu) {
    using nets::Op;
    switch (n.op) {
        case Op::conv: return std::make_unique<layers::ConvLayer>(n);
        case Op::batchnorm: return std::make_unique<layers::BatchNormLayer>(n, g, fuse_bn_relu);
        case Op::relu:
        case Op::relu6:
        case Op::swish:
        case Op::sigmoid:
        case Op::tanh: return std::make_unique<layers::EltwiseLayer>(n);
        case Op::max_pool:
        case Op::avg_pool:
        case Op::global_avg_pool: return std::make_unique<layers::PoolLayer>(n);
        case Op::lrn: return std::make_unique<layers::LrnLayer>(n);
        case Op::linear: return std::make_unique<layers::LinearLayer>(n);
        case Op::dropout:
        case Op::drop_connect: return std::make_unique<layers::DropLayer>(n);
        case Op::add: return std::make_unique<layers::AddLayer>(n, g, fuse_bn_relu);
        case Op::channel_scale: return std::make_unique<layers::ChannelScaleLayer>();
        case Op::concat: return std::make_unique<layers::ConcatLayer>();
        case Op::flatten: return std::make_unique<layers::IdentityLayer>();
        case Op::zero_pad_shortcut: return std::make_unique<layers::ZeroPadLayer>(n);
        case Op::input: break;
    }
    throw std::logic_error(std::string("no layer for op ") + nets::op_name(n.op));
}

}  // namespace deeper::runners
