// Types for the architecture checker's own tests (ArchitectureTests): each class of the low namespace reaches the high
// one in a different way, so the checker is shown to see every kind of reference, and the clean ones none.
#pragma warning disable CA1812 // never instantiated: only their references are read

namespace McpBroker.Tests.LayerSamples.Low
{
    internal sealed class Clean
    {
        public static int Value => 1;
    }

    internal sealed class SignatureUp
    {
        public static void Take(High.Target target) => GC.KeepAlive(target);
    }

    internal static class BodyUp
    {
        public static object Make() => High.Target.Create();
    }

    internal static class LambdaUp
    {
        public static Func<object> Make() => () => High.Target.Create();
    }

    internal static class AsyncUp
    {
        public static async Task<int> MakeAsync()
        {
            await Task.Yield();
            return High.Target.Create().GetHashCode();
        }
    }
}

namespace McpBroker.Tests.LayerSamples.High
{
    internal sealed class Target
    {
        public static Target Create() => new();
    }

    internal sealed class User
    {
        public static int Read() => Low.Clean.Value;
    }
}
