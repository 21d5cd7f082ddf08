//! The model's dropout layers in θ's terms, for the density seam: each layer's rate and, per unit
//! of its input, the θ indices of the next dense layer's weight column that the unit feeds; and
//! the θ indices of the final dense layer, for last-layer methods.

use crate::density::DropoutSite;
use crate::ir::{CheckedModel, Constraint, LayerKind};
use crate::lower::ParamLayout;

/// Every dropout layer of every network, in network and layer order. The checker puts a dense
/// layer after each dropout, and θ holds that layer's weights W (out × in) row-major and
/// unconstrained, so unit j's column is `offset + o·in + j` for o in 0..out.
pub(crate) fn dropout_sites(model: &CheckedModel, layout: &ParamLayout) -> Vec<DropoutSite> {
    let mut sites = Vec::new();
    for net in &model.networks {
        for (l, layer) in net.layers.iter().enumerate() {
            let LayerKind::Dropout { p } = layer.kind else {
                continue;
            };
            let next = net.layers.get(l + 1).map(|n| n.kind);
            let Some(LayerKind::Dense { weight, .. }) = next else {
                panic!("internal: the checker puts a dense layer after every dropout layer");
            };
            // Parameters are laid out in θ in the model's order, one entry each.
            let w = &layout.params[weight];
            assert_eq!(
                w.constraint,
                Constraint::None,
                "internal: weights are unconstrained, so θ holds them as they are"
            );
            let (out, fan_in) = (w.dims[0], w.dims[1]);
            let units = (0..fan_in)
                .map(|j| (0..out).map(|o| w.offset + o * fan_in + j).collect())
                .collect();
            sites.push(DropoutSite { p, units });
        }
    }
    sites
}

/// The θ indices of the last dense layer of the last network (weights row-major, then the
/// bias); empty for a model without networks.
pub(crate) fn last_layer(model: &CheckedModel, layout: &ParamLayout) -> Vec<usize> {
    let Some(net) = model.networks.last() else {
        return Vec::new();
    };
    let dense = net.layers.iter().rev().find_map(|l| match l.kind {
        LayerKind::Dense { weight, bias, .. } => Some((weight, bias)),
        LayerKind::Dropout { .. } => None,
    });
    let Some((weight, bias)) = dense else {
        return Vec::new();
    };
    std::iter::once(weight)
        .chain(bias)
        .flat_map(|k| {
            let e = &layout.params[k];
            e.offset..e.offset + e.len()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::api::Model;
    use crate::density::{Density, DropoutSite};

    #[test]
    fn sites_name_the_next_dense_layers_weight_columns() {
        // θ order: sigma (1), f.1.weight (3 × 2, row-major), f.1.bias (3), f.3.weight
        // (1 × 3), f.3.bias (1). Input dropout (layer 0) feeds f.1.weight, whose column j
        // holds W[o, j] at 1 + 2·o + j: unit 0 → 1, 3, 5; unit 1 → 2, 4, 6. The dropout after
        // the hidden layer feeds f.3.weight at 1 + 6 + 3 = 10: unit h → 10 + h.
        let src = "data { x: matrix[N, 2]  y: vector[N] }
            network f { dropout(0.2) dense(3, tanh) dropout(p = 0.5) dense(1) }
            param { sigma: real<lower=0> }
            prior { f.weight ~ normal(0, 1)  f.bias ~ normal(0, 1)  sigma ~ normal(0, 1) }
            likelihood { y ~ normal(f(x), sigma) }";
        let model = Model::from_str("sites.bnn", src).expect("checks");
        let post = model
            .bind_json(r#"{"N": 2, "x": [[0.5, -1.0], [1.5, 2.0]], "y": [0.1, 0.2]}"#)
            .expect("binds");
        let names: Vec<(&str, usize)> = post
            .layout()
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.offset))
            .collect();
        assert_eq!(
            names,
            [
                ("sigma", 0),
                ("f.1.weight", 1),
                ("f.1.bias", 7),
                ("f.3.weight", 10),
                ("f.3.bias", 13)
            ]
        );
        let want = [
            DropoutSite {
                p: 0.2,
                units: vec![vec![1, 3, 5], vec![2, 4, 6]],
            },
            DropoutSite {
                p: 0.5,
                units: vec![vec![10], vec![11], vec![12]],
            },
        ];
        assert_eq!(post.dropout_sites(), &want[..]);
        assert_eq!(post.evaluator().dropout_sites(), &want[..]);
        // A model without dropout has no sites.
        let plain = Model::from_file("models/regression_1d.bnn").expect("model");
        let plain = plain.bind_file("models/regression_1d.json").expect("data");
        assert!(plain.evaluator().dropout_sites().is_empty());
    }
}
