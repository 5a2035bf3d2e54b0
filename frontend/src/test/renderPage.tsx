// A page as the app mounts it: signed in, on a fake GraphQL server, at a route with its path parameters.
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { Provider, type Client } from "urql";
import { SessionProvider, ViewerProvider } from "../auth";

export function renderPage(client: Client, route: string, at: string, page: ReactElement) {
  return render(
    <SessionProvider>
      <Provider value={client}>
        <ViewerProvider>
          <MemoryRouter initialEntries={[at]}>
            <Routes>
              <Route path={route} element={page} />
            </Routes>
          </MemoryRouter>
        </ViewerProvider>
      </Provider>
    </SessionProvider>,
  );
}
