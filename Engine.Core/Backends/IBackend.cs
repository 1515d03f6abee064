namespace Engine;

/// <summary>Elementwise functions of one input; <c>alpha</c> is the op's parameter where it has one.</summary>
public enum UnaryOp
{
    /// <summary>y = max(x, 0)</summary>
    Relu,
    /// <summary>y = tanh(x)</summary>
    Tanh,
    /// <summary>y = 1 / (1 + exp(-x))</summary>
    Sigmoid,
    /// <summary>y = alpha * x</summary>
    Scale,
    /// <summary>y = x + alpha</summary>
    AddScalar,
    /// <summary>y = exp(x)</summary>
    Exp,
    /// <summary>y = ln(x)</summary>
    Log,
    /// <summary>y = x * x</summary>
    Square,
    /// <summary>y = |x|</summary>
    Abs,
    /// <summary>Inverted-dropout mask from uniform draws u: y = u &gt;= alpha ? 1 / (1 - alpha) : 0 (no backward).</summary>
    DropoutMask,
    /// <summary>y = x &gt; 0 ? x : alpha * x</summary>
    LeakyRelu,
    /// <summary>y = x &gt; 0 ? x : alpha * (exp(x) - 1)</summary>
    Elu,
    /// <summary>y = scale * (x &gt; 0 ? x : a * (exp(x) - 1)), the self-normalizing constants of Klambauer et al.</summary>
    Selu,
    /// <summary>y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))</summary>
    Gelu,
    /// <summary>y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))</summary>
    GeluTanh,
    /// <summary>y = x * sigmoid(x)</summary>
    Silu,
    /// <summary>y = x * relu6(x + 3) / 6</summary>
    Hardswish,
    /// <summary>y = relu6(x + 3) / 6</summary>
    Hardsigmoid,
    /// <summary>y = x * tanh(softplus(x))</summary>
    Mish,
    /// <summary>y = log(1 + exp(alpha x)) / alpha, or x where alpha x &gt; 20 (alpha is PyTorch's beta)</summary>
    Softplus,
    /// <summary>y = min(max(x, 0), 6)</summary>
    Relu6,
    /// <summary>y = x ^ alpha</summary>
    Pow,
    /// <summary>y = sqrt(x)</summary>
    Sqrt,
    /// <summary>y = 1 / sqrt(x)</summary>
    Rsqrt,
    /// <summary>y = |x| &lt; alpha ? 0.5 x^2 / alpha : |x| - 0.5 alpha (Huber-style smooth L1 with beta = alpha)</summary>
    SmoothL1,
    /// <summary>y = erf(x)</summary>
    Erf,
}

/// <summary>Elementwise functions of two inputs, with NumPy broadcasting.</summary>
public enum BinaryOp { Add, Subtract, Multiply, Divide }

/// <summary>
/// The small closed set of primitives a backend provides; everything else is composed in Engine.Core.
/// Buffers are dense row-major float32. Forward primitives overwrite their destination; backward primitives
/// overwrite theirs unless their documentation says they accumulate. Shapes are checked by the callers in
/// Engine.Core (geometries carry a Validate), so backends may assume consistent arguments.
/// </summary>
public interface IBackend
{
    string Name { get; }

    // ---- memory ----
    /// <summary>A buffer of <paramref name="length"/> floats; contents unspecified.</summary>
    DeviceBuffer Allocate(int length);
    /// <summary>Takes back a buffer whose last reference was dropped.</summary>
    void Release(DeviceBuffer buffer);
    void Upload(ReadOnlySpan<float> source, DeviceBuffer destination);
    void Download(DeviceBuffer source, Span<float> destination);
    /// <summary>destination[dstOffset + i] = source[srcOffset + i] for i &lt; count.</summary>
    void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int count);
    void Fill(DeviceBuffer destination, float value, int count);

    // ---- linear algebra ----
    /// <summary>C = alpha * op(A) * op(B) + beta * C, batched (see <see cref="GemmGeometry"/>).</summary>
    void Gemm(in GemmGeometry g, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c);

    // ---- elementwise ----
    void Unary(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, int count);
    /// <summary>dX = dY * f'(x); each op reads whichever of x and y its derivative needs.</summary>
    void UnaryBackward(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX, int count);
    /// <summary>y = a op b with NumPy broadcasting of aShape and bShape to yShape (right-aligned).</summary>
    void Binary(BinaryOp op, DeviceBuffer a, Shape aShape, DeviceBuffer b, Shape bShape, DeviceBuffer y, Shape yShape);
    /// <summary>y = sum of x over the axes where yShape broadcasts to xShape (size 1 or missing in y).</summary>
    void ReduceSum(DeviceBuffer x, Shape xShape, DeviceBuffer y, Shape yShape);

    // ---- softmax and classification loss ----
    /// <summary>y = softmax(x) (or log-softmax) along the middle axis of Outer x Axis x Inner.</summary>
    void Softmax(in SoftmaxGeometry g, bool log, DeviceBuffer x, DeviceBuffer y);
    /// <summary>dX from the forward output y and dY: softmax dX = y*(dY - sum(dY*y)); log-softmax dX = dY - exp(y)*sum(dY).</summary>
    void SoftmaxBackward(in SoftmaxGeometry g, bool log, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX);
    /// <summary>loss[n] = -logProb[n, target[n]] * weight; logProb is N x classes, targets hold class indices as floats.</summary>
    void NllLoss(int batch, int classes, DeviceBuffer logProb, DeviceBuffer targets, DeviceBuffer loss);
    /// <summary>dLogProb[n, c] = c == target[n] ? -dLoss[n] : 0.</summary>
    void NllLossBackward(int batch, int classes, DeviceBuffer targets, DeviceBuffer dLoss, DeviceBuffer dLogProb);

    // ---- convolution ----
    /// <summary>y (N x K x P x Q) = conv(x (N x C x H x W), w (K x C/G x R x S)) + bias (K), zero padding.</summary>
    void Conv2d(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y);
    /// <summary>dX (N x C x H x W) = conv^T(dY, w).</summary>
    void Conv2dBackwardData(in Conv2dGeometry g, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX);
    /// <summary>dW (K x C/G x R x S) and dBias (K), overwritten.</summary>
    void Conv2dBackwardWeight(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW, DeviceBuffer? dBias);

    // ---- padding ----
    void Pad2d(in Pad2dGeometry g, DeviceBuffer x, DeviceBuffer y);
    /// <summary>dX gathers every output position that read from it (reflect/replicate/circular fold back).</summary>
    void Pad2dBackward(in Pad2dGeometry g, DeviceBuffer dY, DeviceBuffer dX);

    // ---- pooling ----
    /// <summary>y = max over each window; indices (same shape as y) = flat h*W+w of the first maximum, as floats.</summary>
    void MaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y, DeviceBuffer indices);
    void MaxPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX);
    /// <summary>
    /// Fractional max pooling: g.Kernel windows at per-plane starts (rowStarts: N*C x OutH, colStarts: N*C x OutW,
    /// as exact floats) over planes of g's input, g.AdaptiveOutput the output size; indices as <see cref="MaxPool2d"/>
    /// (its backward is <see cref="MaxPool2dBackward"/>).
    /// </summary>
    void FractionalMaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer rowStarts, DeviceBuffer colStarts, DeviceBuffer y, DeviceBuffer indices);
    void AvgPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y);
    void AvgPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer dX);

    // ---- data movement ----
    /// <summary>
    /// Copies blockCount blocks of blockLength floats: block b reads source[srcOffset + b*srcStride ...] and writes
    /// destination[dstOffset + b*dstStride ...] (concatenation and slicing along an axis).
    /// </summary>
    void CopyBlocks(DeviceBuffer source, int sourceOffset, int sourceStride, DeviceBuffer destination, int destinationOffset, int destinationStride, int blockLength, int blockCount);
    /// <summary>y = x with its axes reordered: y's axis i is x's axis Axes[i].</summary>
    void Permute(in PermuteGeometry g, DeviceBuffer x, DeviceBuffer y);
    /// <summary>Resizes N x C x H x W planes to N x C x OutH x OutW (nearest or bilinear).</summary>
    void Resize2d(in Resize2dGeometry g, DeviceBuffer x, DeviceBuffer y);
    /// <summary>dX = the adjoint of <see cref="Resize2d"/> applied to dY.</summary>
    void Resize2dBackward(in Resize2dGeometry g, DeviceBuffer dY, DeviceBuffer dX);
    /// <summary>
    /// Max-unpooling: y (g's input planes) = 0 except y[indices[o]] = x[o] for each pooled position o
    /// (g's output planes); where indices repeat, the last in row-major order wins.
    /// </summary>
    void MaxUnpool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer indices, DeviceBuffer y);
    /// <summary>dX[o] = dY[indices[o]] (a gather per pooled position).</summary>
    void MaxUnpool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX);

    // ---- random numbers ----
    /// <summary>y[i] = uniform [0,1) from Philox4x32-10 keyed by seed at counter offset + i (see <see cref="Philox"/>).</summary>
    void RandomUniform(ulong seed, ulong offset, DeviceBuffer y, int count);

    // ---- per-channel statistics and affine maps (batch normalization) ----
    /// <summary>Per channel c of x (N x C x Inner), M = N*Inner: mean[c] = sum(x) / M, variance[c] = sum((x - mean)^2) / M (biased).</summary>
    void ChannelStatistics(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer variance);
    /// <summary>Per channel c: sumDY[c] = sum(dY), sumDYCentered[c] = sum(dY * (x - mean[c])) over its N*Inner values.</summary>
    void ChannelGradientSums(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer mean, DeviceBuffer sumDY, DeviceBuffer sumDYCentered);
    /// <summary>
    /// y = fma(x - xCenter[c], xScale[c], t) with t = fma(z, zScale[c], shift[c]), or t = shift[c] when z is absent
    /// (z and zScale come together); every tensor N x C x Inner, every parameter C long.
    /// </summary>
    void ChannelAffine(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer xCenter, DeviceBuffer xScale, DeviceBuffer? z, DeviceBuffer? zScale, DeviceBuffer shift, DeviceBuffer y);

    // ---- optimizer updates (in place) ----
    void SgdStep(in SgdSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentum, int count);
    void AdamStep(in AdamSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, int count);
}
