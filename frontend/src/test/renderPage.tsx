// A page as the app mounts it: signed in, on a fake GraphQL server, at a route with its path parameters, in a data
// router like the app's (its blocker guards unsaved work); any other path renders "elsewhere".
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { RouterProvider, createMemoryRouter } from "react-router-dom";
import { Provider, type Client } from "urql";
import { SessionProvider, ViewerProvider } from "../auth";

export function renderPage(client: Client, route: string, at: string, page: ReactElement) {
  return render(
    <SessionProvider>
      <Provider value={client}>
        <ViewerProvider>
          <RouterProvider router={createMemoryRouter([{ path: route, element: page }, { path: "*", element: <p>elsewhere</p> }], { initialEntries: [at] })} />
        </ViewerProvider>
      </Provider>
    </SessionProvider>,
  );
}
