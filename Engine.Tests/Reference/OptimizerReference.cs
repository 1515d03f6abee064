namespace Engine.Tests.Reference;

/// <summary>
/// One optimizer update per call, in double, following PyTorch's torch.optim algorithms:
/// SGD: g = grad + wd*p; buf = first ? g : momentum*buf + (1 - dampening)*g; g = nesterov ? g + momentum*buf : buf;
/// p -= lr*g. Adam: g = grad (+ wd*p unless decoupled, where p *= 1 - lr*wd); m = b1 m + (1-b1) g;
/// v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
/// </summary>
public static class OptimizerReference
{
    public static void Sgd(SgdSettings s, double[] p, double[] grad, double[]? momentum)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double g = grad[i] + (double)s.WeightDecay * p[i];
            if (momentum is not null && s.Momentum != 0)
            {
                momentum[i] = s.FirstStep ? g : (double)s.Momentum * momentum[i] + (1 - (double)s.Dampening) * g;
                g = s.Nesterov ? g + (double)s.Momentum * momentum[i] : momentum[i];
            }
            p[i] -= s.LearningRate * g;
        }
    }

    public static void Adam(AdamSettings s, double[] p, double[] grad, double[] m, double[] v)
    {
        double lr = s.LearningRate, b1 = s.Beta1, b2 = s.Beta2, wd = s.WeightDecay;
        double correction1 = 1 - Math.Pow(b1, s.Step), correction2 = 1 - Math.Pow(b2, s.Step);
        for (int i = 0; i < p.Length; i++)
        {
            double g = grad[i];
            if (s.Decoupled) p[i] *= 1 - lr * wd;
            else g += wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mHat = m[i] / correction1;
            p[i] -= lr * mHat / (Math.Sqrt(v[i]) / Math.Sqrt(correction2) + s.Epsilon);
        }
    }
}
