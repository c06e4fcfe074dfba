// Batch normalization with scale and shift; running statistics kept as PyTorch keeps them
// (momentum, unbiased variance). A ReLU that follows as the only consumer is fused in. oneDNN's
// primitives run it, or the engine's own kernels where the tuner measured them faster; those
// fuse a ReLU6 or swish too, or the residual add after them (with its ReLU), which saves that
// add two passes over memory.
#include <cmath>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

BatchNormLayer::BatchNormLayer(const nets::Node& n, const nets::Graph& g, bool fuse_relu)
    : node_(n), fuse_relu_(fuses_relu(g, n, fuse_relu)), fusion_allowed_(fuse_relu) {
    runs_its_consumer = fuse_relu_;  // the engine's kernels may take a ReLU6 or swish too (define)
    const auto& a = std::get<nets::BatchNormAttrs>(n.attrs);
    eps_ = a.eps;
    momentum_ = a.momentum;
    zero_scale_ = a.zero_scale;
}

memory::desc BatchNormLayer::define(LayerContext& c) {
    const memory::desc data = c.in_desc(0);
    const int C = int(data.dims()[1]);
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    if (fuse_relu_) flags |= normalization_flags::fuse_norm_relu;
    if (c.training()) {
        fwd_pd_ = batch_normalization_forward::primitive_desc(
            {prop_kind::forward_training, data, eps_, flags}, c.attr(), c.eng());
    } else {
        fwd_pd_ = batch_normalization_forward::primitive_desc(
            {prop_kind::forward_inference, data, eps_, flags | normalization_flags::use_global_stats},
            c.attr(), c.eng());
    }

    const memory::desc vec = plain_desc({C});
    auto add = [&](const char* suffix, Init init, bool state) {
        ParamInfo p;
        p.name = node_.name + suffix;
        p.dims = {C};
        p.internal = p.plain = vec;
        p.init = init;
        p.is_state = state;
        return c.param(p);
    };
    scale_ = add(".weight", zero_scale_ ? Init::zeros : Init::ones, false);
    shift_ = add(".bias", Init::zeros, false);
    run_mean_ = add(".running_mean", Init::zeros, true);
    run_var_ = add(".running_var", Init::ones, true);

    if (c.own_bn_kernels()) own_ = channels_innermost_layout(data);
    if (own_) {
        own_activation_ = own_activation(c.graph());
        runs_its_consumer = own_activation_ != BnActivation::none;
        can_sum_into_output = fusion_allowed_ && !runs_its_consumer;
        for (auto* v : {&scale_x_, &inv_std_, &sum_g_, &sum_g_xc_, &c1_, &c0_}) v->assign(C, 0.f);
        if (!c.training()) return data;
    } else {
        c.scratchpad(fwd_pd_.scratchpad_desc());
        if (!c.training()) return fwd_pd_.dst_desc();
    }
    const bool keep = c.needs_backward();
    const auto life = keep ? LayerContext::Life::fwd_to_bwd : LayerContext::Life::fwd;
    mean_buf_ = c.buffer(fwd_pd_.mean_desc(), life);
    var_buf_ = c.buffer(fwd_pd_.variance_desc(), life);
    if (own_) {  // the ReLU's mask comes from the input again: no workspace
        train_params_ = keep && c.trainable(scale_);
        own_backward_ = keep;
        own_dx_ = keep && c.input_needs_grad(0);
        if (keep) c.need_input_in_backward(0);
        return data;
    }
    if (!fwd_pd_.workspace_desc().is_zero()) ws_buf_ = c.buffer(fwd_pd_.workspace_desc(), life);
    if (!keep) return fwd_pd_.dst_desc();

    train_params_ = c.trainable(scale_);
    c.need_input_in_backward(0);
    bwd_pd_ = batch_normalization_backward::primitive_desc(
        {train_params_ ? prop_kind::backward : prop_kind::backward_data, data, data, eps_, flags},
        c.attr(), c.eng(), fwd_pd_);
    c.scratchpad(bwd_pd_.scratchpad_desc());
    // oneDNN always writes diff_src; give it a scratch buffer when nothing below needs it.
    if (!c.input_needs_grad(0)) diff_src_tmp_ = c.buffer(data, LayerContext::Life::bwd);
    return fwd_pd_.dst_desc();
}

BnActivation BatchNormLayer::own_activation(const nets::Graph& g) const {
    if (fuse_relu_) return BnActivation::relu;
    if (!fusion_allowed_) return BnActivation::none;
    const auto next = sole_consumer_op(g, node_);
    if (next == nets::Op::relu6) return BnActivation::relu6;
    if (next == nets::Op::swish) return BnActivation::swish;
    return BnActivation::none;
}

void BatchNormLayer::bind(LayerContext& c) {
    if (own_) {
        scratch_ = BnScratch(*own_);  // for the threads the net runs with, set by now
        apply_activation_ = own_activation_;
        if (const auto sum = c.residual_sum()) {
            residual_ = sum->other.get_data_handle();
            if (sum->relu) apply_activation_ = BnActivation::relu;  // backward gets dy masked by the add
        }
        x_ = c.input(0).get_data_handle();
        y_ = c.output().get_data_handle();
        gamma_ = static_cast<float*>(c.param_memory(scale_).get_data_handle());
        beta_ = static_cast<float*>(c.param_memory(shift_).get_data_handle());
        if (!c.training()) return;
        mean_ = c.buffer_memory(mean_buf_, fwd_pd_.mean_desc());
        var_ = c.buffer_memory(var_buf_, fwd_pd_.variance_desc());
        if (own_backward_) dy_ = c.diff_dst().get_data_handle();
        if (own_dx_) dx_ = c.diff_src(0).get_data_handle();
        if (train_params_) {
            const memory::desc vec = plain_desc({c.in_desc(0).dims()[1]});
            dgamma_ = static_cast<float*>(c.grad_memory(scale_, vec).get_data_handle());
            dbeta_ = static_cast<float*>(c.grad_memory(shift_, vec).get_data_handle());
        }
        return;
    }
    fwd_ = batch_normalization_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCALE, c.param_memory(scale_)},
                 {DNNL_ARG_SHIFT, c.param_memory(shift_)},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (!c.training()) {
        fwd_args_[DNNL_ARG_MEAN] = c.param_memory(run_mean_);
        fwd_args_[DNNL_ARG_VARIANCE] = c.param_memory(run_var_);
        return;
    }
    mean_ = c.buffer_memory(mean_buf_, fwd_pd_.mean_desc());
    var_ = c.buffer_memory(var_buf_, fwd_pd_.variance_desc());
    fwd_args_[DNNL_ARG_MEAN] = mean_;
    fwd_args_[DNNL_ARG_VARIANCE] = var_;
    memory ws;
    if (ws_buf_ >= 0) {
        ws = c.buffer_memory(ws_buf_, fwd_pd_.workspace_desc());
        fwd_args_[DNNL_ARG_WORKSPACE] = ws;
    }
    if (!bwd_pd_) return;
    bwd_ = batch_normalization_backward(bwd_pd_);
    bwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DIFF_DST, c.diff_dst()},
                 {DNNL_ARG_MEAN, mean_},
                 {DNNL_ARG_VARIANCE, var_},
                 {DNNL_ARG_SCALE, c.param_memory(scale_)},
                 {DNNL_ARG_SHIFT, c.param_memory(shift_)},  // 2.6 fails without it
                 {DNNL_ARG_DIFF_SRC, diff_src_tmp_ >= 0
                                         ? c.buffer_memory(diff_src_tmp_, c.in_desc(0))
                                         : c.diff_src(0)},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (ws) bwd_args_[DNNL_ARG_WORKSPACE] = ws;
    if (train_params_) {
        const memory::desc vec = plain_desc({c.in_desc(0).dims()[1]});
        bwd_args_[DNNL_ARG_DIFF_SCALE] = c.grad_memory(scale_, vec);
        bwd_args_[DNNL_ARG_DIFF_SHIFT] = c.grad_memory(shift_, vec);
    }
}

void BatchNormLayer::update_running_stats(LayerContext& c) {
    const auto d = c.in_desc(0).dims();
    const double m = double(d[0]) * d[2] * d[3];
    const float unbias = m > 1 ? float(m / (m - 1)) : 1.f;
    const float* mean = static_cast<const float*>(mean_.get_data_handle());
    const float* var = static_cast<const float*>(var_.get_data_handle());
    float* rm = c.store().data(run_mean_);
    float* rv = c.store().data(run_var_);
    for (memory::dim i = 0; i < d[1]; ++i) {
        rm[i] = (1 - momentum_) * rm[i] + momentum_ * mean[i];
        rv[i] = (1 - momentum_) * rv[i] + momentum_ * var[i] * unbias;
    }
}

void BatchNormLayer::fold(const float* var) {
    for (int i = 0; i < own_->channels; ++i) {
        inv_std_[i] = 1.f / std::sqrt(var[i] + eps_);
        scale_x_[i] = gamma_[i] * inv_std_[i];
    }
}

void BatchNormLayer::own_forward(LayerContext& c) {
    const float* mean = c.store().data(run_mean_);
    const float* var = c.store().data(run_var_);
    if (c.training()) {
        bn_statistics(*own_, scratch_, x_, static_cast<float*>(mean_.get_data_handle()),
                      static_cast<float*>(var_.get_data_handle()));
        mean = static_cast<const float*>(mean_.get_data_handle());
        var = static_cast<const float*>(var_.get_data_handle());
    }
    fold(var);
    bn_apply(*own_, x_, residual_, y_, mean, scale_x_.data(), beta_, apply_activation_);
}

// dx = scale_x * (g - mean(g) - xc * inv_std^2 * mean(g * xc)) with xc = x - mean, written as
// g * scale_x + xc * c1 + c0; the parameters' gradients are sum(g * xc) * inv_std and sum(g).
void BatchNormLayer::own_backward(LayerContext& c) {
    const float* mean = static_cast<const float*>(mean_.get_data_handle());
    fold(static_cast<const float*>(var_.get_data_handle()));  // as the forward did: the same ReLU mask
    bn_backward_sums(*own_, scratch_, x_, dy_, mean, scale_x_.data(), beta_, own_activation_, sum_g_.data(),
                     sum_g_xc_.data());
    if (train_params_) {
        for (int i = 0; i < own_->channels; ++i) {
            dgamma_[i] = sum_g_xc_[i] * inv_std_[i];
            dbeta_[i] = sum_g_[i];
        }
        c.finish_grads();
    }
    if (!own_dx_) return;
    const double count = double(own_->images) * double(own_->pixels);
    for (int i = 0; i < own_->channels; ++i) {
        const double k = double(scale_x_[i]) / count;
        c1_[i] = float(-k * double(inv_std_[i]) * inv_std_[i] * sum_g_xc_[i]);
        c0_[i] = float(-k * sum_g_[i]);
    }
    bn_backward_data(*own_, x_, dy_, dx_, mean, scale_x_.data(), beta_, c1_.data(), c0_.data(), own_activation_);
}

void BatchNormLayer::forward(LayerContext& c) {
    if (own_) own_forward(c);
    else fwd_.execute(c.stream(), fwd_args_);
    if (c.training()) update_running_stats(c);
}

void BatchNormLayer::backward(LayerContext& c) {
    if (own_backward_) {
        own_backward(c);
        c.count_backward_primitive();
        return;
    }
    if (!bwd_pd_) return;
    bwd_.execute(c.stream(), bwd_args_);
    if (train_params_) c.finish_grads();
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
